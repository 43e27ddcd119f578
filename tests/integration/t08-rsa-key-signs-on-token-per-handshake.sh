#!/bin/bash
# t08: with an RSA 2048 key, each full handshake (TLS 1.3 and 1.2) is
# exactly one C_Sign on the token, counted by the forwarding test module.
. "$(dirname "$0")/lib.sh"
need_tool openssl
signs_once_per_handshake rsa:2048
