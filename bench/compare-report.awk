# compare-report.awk - the table and the issue's targets from compare.sh's
# raw results.  Input lines:
#   run case=C latency_ms=L round=R server=S cpu_us_per_hs=X hs_per_s=Y ...
#   keepalive server=S p99_ms=P max_ms=M errors=E ...
#   skip case=C server=S|both reason="..."
# Variables: cases, lats (space-separated lists, in display order).
# Each cell is the median over rounds; errors are summed.

function kvs(    i, k) {
	delete f
	for (i = 2; i <= NF; i++) {
		k = index($i, "=")
		if (k > 0)
			f[substr($i, 1, k - 1)] = substr($i, k + 1)
	}
}

function push(arr, key, v) {
	arr[key] = (key in arr) ? arr[key] " " v : v
}

# median of a space-separated list of numbers ("" if none)
function median(list,    a, n, i, j, t) {
	if (list == "")
		return ""
	n = split(list, a, " ")
	for (i = 2; i <= n; i++)
		for (j = i; j > 1 && a[j - 1] + 0 > a[j] + 0; j--) {
			t = a[j]; a[j] = a[j - 1]; a[j - 1] = t
		}
	return n % 2 ? a[(n + 1) / 2] + 0 : (a[n / 2] + a[n / 2 + 1]) / 2
}

function fmt(v, p) {
	return v == "" ? "-" : sprintf("%." p "f", v)
}

function ratio(a, b) {
	return (a == "" || b == "" || b + 0 == 0) ? "-" : sprintf("%.2f", a / b)
}

$1 == "run" {
	kvs()
	k = f["case"] SUBSEP f["latency_ms"] SUBSEP f["server"]
	push(hs, k, f["hs_per_s"])
	if (f["cpu_us_per_hs"] != "NA")
		push(cpu, k, f["cpu_us_per_hs"])
	push(p99, k, f["p99_ms"])
	err[k] += f["errors"]
	seen[k] = 1
}
$1 == "keepalive" {
	kvs()
	ka[f["server"]] = 1
	ka_p99[f["server"]] = f["p99_ms"]
	ka_max[f["server"]] = f["max_ms"]
	ka_err[f["server"]] = f["errors"]
	ka_rate[f["server"]] = f["load_rate"]
	ka_ach[f["server"]] = f["load_hs_per_s"]
}
$1 == "skip" {
	kvs()
	skipped[f["case"] SUBSEP f["server"]] = 1
}

function cell(c, l, s, what) {
	k = c SUBSEP l SUBSEP s
	if (!(k in seen))
		return ""
	if (what == "hs") return median(hs[k])
	if (what == "cpu") return median(cpu[k])
	if (what == "p99") return median(p99[k])
	return err[k]
}

function errcell(c, l, s) {
	k = c SUBSEP l SUBSEP s
	return (k in seen) ? err[k] : "-"
}

function table(    nc, nl, C, L, i, j, c, l, h, n) {
	nc = split(cases, C, " ")
	nl = split(lats, L, " ")
	printf "\n%-16s %5s %10s %10s %6s %10s %10s %6s %9s %9s %11s\n",
	    "case", "lat", "hsmtls", "nginx", "ratio", "hsmtls", "nginx",
	    "CPU", "hsmtls", "nginx", "errors"
	printf "%-16s %5s %10s %10s %6s %10s %10s %6s %9s %9s %11s\n",
	    "", "ms", "hs/s", "hs/s", "", "CPU us/hs", "CPU us/hs", "ratio",
	    "p99 ms", "p99 ms", "hsmtls/ngx"
	for (i = 1; i <= nc; i++)
		for (j = 1; j <= nl; j++) {
			c = C[i]; l = L[j]
			h = cell(c, l, "hsmtls", "hs"); n = cell(c, l, "nginx", "hs")
			printf "%-16s %5s %10s %10s %6s %10s %10s %6s %9s %9s %11s\n",
			    c, l, fmt(h, 1), fmt(n, 1), ratio(h, n),
			    fmt(cell(c, l, "hsmtls", "cpu"), 0),
			    fmt(cell(c, l, "nginx", "cpu"), 0),
			    ratio(cell(c, l, "hsmtls", "cpu"), cell(c, l, "nginx", "cpu")),
			    fmt(cell(c, l, "hsmtls", "p99"), 2),
			    fmt(cell(c, l, "nginx", "p99"), 2),
			    errcell(c, l, "hsmtls") "/" errcell(c, l, "nginx")
		}
	for (k in skipped) {
		split(k, S, SUBSEP)
		printf "skipped: %s on %s (see the run log)\n", S[1], S[2]
	}
}

function verdict(ok) {
	return ok ? "PASS" : "MISS"
}

# (a) latency 0: hsmtls CPU/handshake <= 1.0x nginx where nginx completes.
function target_a(    C, nc, i, c, h, n, he, ne) {
	print "\n(a) token latency 0: hsmtls CPU per handshake <= 1.0x nginx"
	nc = split("tls13-ecdsa tls13-rsa-pss tls12-ecdhe-rsa", C, " ")
	for (i = 1; i <= nc; i++) {
		c = C[i]
		h = cell(c, 0, "hsmtls", "cpu"); n = cell(c, 0, "nginx", "cpu")
		he = cell(c, 0, "hsmtls", "err"); ne = cell(c, 0, "nginx", "err")
		if (h == "" || n == "")
			printf "  %-16s not measured\n", c
		else if (ne > 0)
			printf "  %-16s n/a: nginx had %d errors\n", c, ne
		else
			printf "  %-16s %s  %.0f vs %.0f us/hs = %.2fx%s\n", c,
			    verdict(h <= n && he == 0), h, n, h / n,
			    (he > 0 ? sprintf(" (hsmtls %d errors)", he) : "")
	}
}

# (b) slow token: hsmtls keeps >= 0.9x (5 ms) / 0.75x (50 ms) of its rate.
function target_b(    C, nc, i, c, base, want, lat, r, v, e, m) {
	print "\n(b) slow token: hsmtls hs/s >= 0.9x its latency-0 rate at 5 ms, >= 0.75x at 50 ms"
	nc = split(cases, C, " ")
	for (i = 1; i <= nc; i++) {
		c = C[i]
		base = cell(c, 0, "hsmtls", "hs")
		for (m = 1; m <= 2; m++) {
			lat = m == 1 ? 5 : 50
			want = m == 1 ? 0.9 : 0.75
			v = cell(c, lat, "hsmtls", "hs")
			e = cell(c, lat, "hsmtls", "err")
			if (base == "" || v == "" || base + 0 == 0) {
				printf "  %-16s %2d ms  not measured\n", c, lat
				continue
			}
			r = v / base
			printf "  %-16s %2d ms  %s  %.1f / %.1f hs/s = %.2fx (want >= %.2f)%s\n",
			    c, lat, verdict(r >= want && e == 0), v, base, r, want,
			    (e > 0 ? sprintf(" (%d errors)", e) : "")
		}
	}
}

# (c) keep-alive p99 <= 2 ms at half the max rate on a 5 ms token.
function target_c(    s) {
	print "\n(c) keep-alive request p99 <= 2 ms at half max handshake rate, 5 ms token"
	if (!("hsmtls" in ka))
		print "  hsmtls  not measured"
	else
		printf "  hsmtls  %s  p99 %.2f ms, max %.2f ms, %d errors (load %s hs/s asked, %s done)\n",
		    verdict(ka_p99["hsmtls"] <= 2 && ka_err["hsmtls"] == 0),
		    ka_p99["hsmtls"], ka_max["hsmtls"], ka_err["hsmtls"],
		    ka_rate["hsmtls"], ka_ach["hsmtls"]
	if ("nginx" in ka)
		printf "  nginx   (reference) p99 %.2f ms, max %.2f ms, %d errors (load %s hs/s asked, %s done)\n",
		    ka_p99["nginx"], ka_max["nginx"], ka_err["nginx"],
		    ka_rate["nginx"], ka_ach["nginx"]
}

END {
	table()
	target_a()
	target_b()
	target_c()
}
