# Summarises the TAP that one runtime-tools validation program printed.
# Perl's prove aborts on these programs' YAML diagnostics, so the lines are counted here.
# Prints one line: ok not_ok skipped test_points plan orphan_errors bail_outs
#   ok            "ok N" lines that are not "# SKIP"
#   plan          N of the first "1..N" line, or "-" when there was none (linux_cgroups_cpus
#                 prints two TAP streams)
#   orphan_errors YAML diagnostics carrying an "error" key that belong to no test point:
#                 printed before any test point, or as a second diagnostic after one. The
#                 lifecycle programs (hooks, prestart, poststart, state's spec errors, ...) report
#                 failure only this way, with "1..0" and exit 0. An "error" attached to an "ok"
#                 is an expected error (e.g. create refusing a duplicate ID) and is not counted.
BEGIN { ok = 0; notok = 0; skip = 0; tests = 0; plan = "-"; orphan = 0; bail = 0; pending = 0; inyaml = 0 }
inyaml {
	if ($0 ~ /^[ \t]*\.\.\.[ \t]*$/) { inyaml = 0; next }
	# tap-go writes the diagnostic as JSON ("error": ...); accept plain YAML keys too.
	if (orph && $0 ~ /^[ \t]+"?error"?[ \t]*:/) orphan++
	next
}
/^[ \t]+---[ \t]*$/ { inyaml = 1; orph = !pending; pending = 0; next }
/^not ok([ \t]|$)/ { notok++; tests++; pending = 1; next }
/^ok([ \t]|$)/ {
	tests++
	if (tolower($0) ~ /#[ \t]*skip/) skip++; else ok++
	pending = 1
	next
}
/^1\.\.[0-9]+/ && plan == "-" { plan = $0; sub(/^1\.\./, "", plan); sub(/[^0-9].*$/, "", plan); next }
/^Bail out!/ { bail++ }
END { printf "%d %d %d %d %s %d %d\n", ok, notok, skip, tests, plan, orphan, bail }
