# http-lib.sh - helpers for the tests of the HTTP layer (t50-t59), sourced
# after lib.sh.
#
# py: run the Python on stdin with h1.py importable and the running
# server's PORT and CERT in its environment.
# write_conf FILE DIRECTIVES: a configuration file (hsmtls.conf syntax)
# for the test's token, key, certificate and root, listening on
# 127.0.0.1:0, with DIRECTIVES (top-level lines) added.
# (start_server_conf FILE, in lib.sh, serves it.)

H1_DIR=$(cd "$(dirname "$0")" && pwd)

py() {
	need_tool python3
	PYTHONPATH=$H1_DIR PORT=$PORT CERT=$CERT ROOT=${ROOT:-} WAIT_SECS=$WAIT_SECS \
	    TEST_NAME=$TEST_NAME timeout "$((WAIT_SECS * 4))" python3 - "$@"
}

write_conf() {
	cat >"$1" <<EOF
# written by $TEST_NAME
listen 127.0.0.1:0;
$2

token $TOKEN_LABEL {
	pin-file "$PIN_FILE";
}

site default {
	root "$ROOT";
	key "$KEY_URI" "$CERT";
}
EOF
}
