#!/bin/bash
# t105: the token fault soak of t104 for 10 minutes (make check-slow), in
# process and through the key daemon at once.
HSMTLS_SOAK_SECS=${HSMTLS_SOAK_SECS:-600}
export HSMTLS_SOAK_SECS
exec "$(dirname "$0")/t104-token-fault-soak.sh"
