#!/bin/bash
# t89 (check-slow): an external TLS audit.  testssl.sh (Debian's testssl)
# runs against the server with the defaults (ECDSA P-256 key) and with an
# RSA key and rsa-key-exchange on.  The findings it rates above OK/INFO
# must all be in the reviewed baseline (testssl-baseline.txt: the test's
# self-signed certificate, headers a static test site does not send), the
# ciphers offered must be exactly the baseline's, ROBOT must be "not
# vulnerable", SSLv3, TLS 1.0 and 1.1 not offered, and no CBC suite.
# (A check testssl itself could not run, severity WARN, is printed.)
. "$(dirname "$0")/lib.sh"
need_tool testssl python3

BASELINE=$srcdir/integration/testssl-baseline.txt
[ -f "$BASELINE" ] || hard_error "no $BASELINE"
make_token
make_root
EC=$(make_key ec:P-256 ec 01)
make_cert "$EC" "$tmp/ec.pem"
RSA=$("$HSMTLS_TOKEN" keygen --token "$TOKEN_LABEL" --pin-file "$PIN_FILE" \
    --type rsa:2048 --label kx --id 02 --usage sign,decrypt 2>"$tmp/keygen.err") ||
	fail "keygen rsa: $(cat "$tmp/keygen.err")"
make_cert_for "$RSA" "$PIN_FILE" "$tmp/rsa.pem" localhost DNS:localhost,IP:127.0.0.1

# audit NAME SERVER-ARGS...: testssl against a server started with ARGS;
# its JSON checked against the baseline's NAME lines.
audit() {
	name=$1
	shift
	start_server "$@"
	timeout $((600 * TIME_SCALE)) testssl --quiet --color 0 --warnings off \
	    --sneaky --jsonfile-pretty "$tmp/$name.json" "127.0.0.1:$PORT" \
	    >"$tmp/$name.txt" 2>&1 || [ -s "$tmp/$name.json" ] ||
		fail "$name: testssl did not finish: $(tail -5 "$tmp/$name.txt")"
	stop_server_ok
	python3 - "$name" "$tmp/$name.json" "$BASELINE" <<'EOF' || fail "$name: the audit found something new (above)"
import json, sys
name, path, base = sys.argv[1:4]
accepted, ciphers = set(), set()
for line in open(base):
    line = line.split("#", 1)[0].split()
    if len(line) == 3 and line[0] == name:
        (ciphers if line[1] == "cipher" else accepted).add((line[1], line[2]))
found, offered, by_id = set(), set(), {}
for scan in json.load(open(path)).get("scanResult", []):
    for items in scan.values():
        if not isinstance(items, list):
            continue
        for it in items:
            if not isinstance(it, dict) or "id" not in it:
                continue
            by_id[it["id"]] = it
            sev = it.get("severity", "")
            if sev == "WARN":       # testssl could not run that check
                print("%s: testssl warning: %s: %s" % (name, it["id"],
                      it.get("finding", "")))
            elif sev not in ("OK", "INFO"):
                found.add((sev, it["id"]))
            if it["id"].startswith("cipher_x"):
                offered.add(("cipher", it["id"][len("cipher_"):]))
bad = []
for sev, i in sorted(found - accepted):
    bad.append("new finding: %s %s: %s" % (sev, i, by_id[i].get("finding", "")))
for c in sorted(offered ^ {c for c in ciphers}):
    bad.append("cipher %s %s" % (c[1], "offered, not in the baseline" if c in offered else "in the baseline, not offered"))
def finding(i):
    return by_id.get(i, {}).get("finding", "(missing)")
if not finding("ROBOT").startswith("not vulnerable"):
    bad.append("ROBOT: " + finding("ROBOT"))
for p in ("SSLv3", "TLS1", "TLS1_1"):
    if finding(p) != "not offered":
        bad.append("%s: %s" % (p, finding(p)))
for i, it in by_id.items():
    if i.startswith("cipher_x") and "CBC" in it.get("finding", ""):
        bad.append("CBC suite offered: " + it["finding"])
for b in bad:
    print("%s: %s" % (name, b))
gone = accepted - found
for sev, i in sorted(gone):
    print("%s: baseline finding no longer reported: %s %s" % (name, sev, i))
print("%s: %d findings above INFO, all in the baseline; %d ciphers; ROBOT %s" %
      (name, len(found), len(offered), finding("ROBOT")) if not bad else "")
sys.exit(1 if bad else 0)
EOF
}

audit default --cert "$tmp/ec.pem" --key "$EC" --pin-file "$PIN_FILE" --root "$ROOT"
audit rsa-kx --cert "$tmp/rsa.pem" --key "$RSA" --pin-file "$PIN_FILE" --root "$ROOT" --rsa-key-exchange
