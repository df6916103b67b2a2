# lint-options.awk -v progre=REGEX HELP SHARED FILE...: the long options
# of HELP (a program's --help) that no site of the program in the FILEs
# gives, in their long form or the short form their help line pairs them
# with; the options listed in SHARED count wherever they are given.  A
# site is a command (a logical line cut at |, && and ;) naming the program
# (progre), a function that runs it with "$@", an array holding its
# command, a loop variable over it; $VAR counts as the option VAR=--opt holds.
# Used by options.bats.
function word_re(w) { gsub(/[.]/, "[.]", w); return "(^|[^A-Za-z0-9_.-])" w "([^A-Za-z0-9_-]|$)" }
function opt_re(o) { return "(^|[^A-Za-z0-9-])" o "([^A-Za-z0-9-]|$)" }
function gives(s, o) {
	return s ~ opt_re(o) || ((o in short) && s ~ "(^|[ \t\"'(])" short[o] "([^A-Za-z-]|$)")
}
function parens(s,    t) { t = s; return gsub(/\(/, "", t) - gsub(/\)/, "", s) }
FNR == 1 { fileno++; cont = ""; delete arr; delete loopvar; delete varopt; fn = "" }
fileno == 1 {
	line = $0
	while (match(line, /--[a-z][a-z0-9-]*/)) {
		o = substr(line, RSTART, RLENGTH)
		if (!(o in opts)) { opts[o] = 1; order[++nopts] = o }
		line = substr(line, RSTART + RLENGTH)
	}
	line = $0
	while (match(line, /(^|[ \[(])-[A-Za-z], --[a-z][a-z0-9-]*/)) {
		s = substr(line, RSTART, RLENGTH); sub(/^[ \[(]/, "", s)
		short[substr(s, 5)] = substr(s, 1, 2)
		line = substr(line, RSTART + RLENGTH)
	}
	next
}
fileno == 2 { shared[$1] = 1; next }
{
	# a logical line: continuation lines and an array literal's lines joined
	if (cont != "") { $0 = cont " " $0; cont = "" }
	if ($0 ~ /\\$/) { cont = substr($0, 1, length($0) - 1); next }
	if ($0 ~ /=\(/ && $0 !~ /^[ \t]*#/ && parens($0) > 0) { cont = $0; next }
	if ($0 ~ /^[ \t]*#/) next
	text = $0
	if (text ~ /^[a-zA-Z_][a-zA-Z0-9_]*\(\) *\{/ || text ~ /^@test/) { fn = text; sub(/\(.*/, "", fn); delete loopvar }
	if (text ~ progre && fn != "" && fn !~ /^@test/ && text ~ /"\$@"/) alias[fn] = 1
	if (match(text, /[A-Za-z_][A-Za-z0-9_]*=\(/) && text ~ progre) arr[substr(text, RSTART, RLENGTH - 2)] = 1
	if (match(text, /for [A-Za-z_][A-Za-z0-9_]* in /) && text ~ progre) {
		v = substr(text, RSTART + 4); sub(/ .*/, "", v); loopvar[v] = 1
	}
	while (match(text, /[A-Za-z_][A-Za-z0-9_]*=\(?--[a-z][a-z0-9-]*/)) {
		a = substr(text, RSTART, RLENGTH); v = a; sub(/=.*/, "", v); sub(/^[^-]*/, "", a); varopt[v] = a
		text = substr(text, RSTART + RLENGTH)
	}
	text = $0
	n = split(text, seg, /\||&&|;/)
	for (i = 1; i <= n; i++) {
		s = seg[i]; site = (s ~ progre)
		if (!site) for (a in alias) if (s ~ word_re(a)) site = 1
		if (!site) for (a in arr) if (s ~ "(^|[^A-Za-z0-9_])" a "\\+?=\\(" || index(s, "${" a "[")) site = 1
		if (!site) for (v in loopvar) if (index(s, "$" v) || index(s, "${" v "}")) site = 1
		for (o in opts) {
			if (!site && !(o in shared)) continue
			if (gives(s, o)) seen[o] = 1
			else if (site) for (v in varopt) if (varopt[v] == o && s ~ "\\$\\{?" v "([^A-Za-z0-9_]|$)") seen[o] = 1
		}
	}
}
END { for (i = 1; i <= nopts; i++) if (!(order[i] in seen)) print order[i] }
