#!/usr/bin/env bash
# lint-bats.sh [FILE...]: assertions of the bats tests that can never fail.
#
# bats runs a test under set -e, which ignores the status of a command
# negated with "!" and of every part of an "a && b" list but the last,
# except on the last line of the test (its status is the test's).  Such a
# line, anywhere else in a test or in a function of a test file, asserts
# nothing.  This prints FILE:LINE: TEXT for each and exits 1 if there is
# one (0 if none, 2 on a usage error).  Default: tests/bats/*.bats and
# tests/bats/*.bash.
#
# A line is flagged, unless it is the last of its test or function, when
#   - a command on it is negated with "!" (at the start of the line, or
#     after &&, ||, ;, {, (, then, do, else), outside an if/elif/while/until
#     condition;
#   - it holds an "a && b" list with no "||" after its last "&&", unless
#     that last part is a control or an assignment (&& return, && continue,
#     && break, && exit, && VAR=..., && local/export/shift/set/:/echo/printf),
#     which makes it a deliberate condition, not an assertion; and always
#     when it chains two tests ("] && [") with no "||" after.
# Write "run cmd" + assert_exit/assert_contains, "[ ... ] || false", or an
# if instead.  Quoted text, $( ... ), comments and here-documents are not
# looked at; a line continued with a backslash or inside a quoted string
# spanning lines counts as one line, reported at its first line.
set -u

top=$(cd "$(dirname "$0")/.." && pwd)
if [ $# -eq 0 ]; then
	set -- "$top"/tests/bats/*.bats "$top"/tests/bats/*.bash
fi
for f in "$@"; do
	[ -f "$f" ] || { echo "lint-bats.sh: no such file: $f" >&2; exit 2; }
done

awk -v sq="'" '
# strip: the text of a logical line with quoted strings, $( ... ) and the
# comment removed (quote state carried across physical lines in q, depth in d)
function strip(s,    out, i, c, n) {
	out = ""; n = length(s)
	for (i = 1; i <= n; i++) {
		c = substr(s, i, 1)
		if (q == sq) { if (c == sq) q = ""; continue }
		if (q == "\"") {
			if (c == "\\") { i++; continue }
			if (c == "\"") q = ""
			continue
		}
		if (c == "\\") { i++; out = out " "; continue }
		if (d > 0) {
			if (c == "(") d++
			else if (c == ")") d--
			else if (c == sq || c == "\"") q = c
			continue
		}
		if (c == sq || c == "\"") { q = c; out = out " "; continue }
		if (c == "$" && substr(s, i + 1, 1) == "(") { d = 1; i++; out = out "X"; continue }
		if (c == "#" && (i == 1 || substr(s, i - 1, 1) ~ /[ \t;]/)) break
		out = out c
	}
	return out
}

# bad(t): why the stripped logical line t cannot fail, or ""
function bad(t,    lead, last, after) {
	# && and ! inside [[ ... ]] and (( ... )) are operators of the test
	gsub(/\[\[[^]]*\]\]/, "[[ ]]", t)
	gsub(/\(\([^)]*\)\)/, "(( ))", t)
	lead = t; sub(/^[ \t]+/, "", lead)
	if (lead ~ /^(if|elif|while|until)[ \t]/) return ""
	if (t ~ /(^|&&|\|\||;|[{(]|then|do|else)[ \t]*![ \t]/) return "a negated command (!)"
	if (index(t, "&&") == 0) return ""
	after = t; sub(/.*&&/, "", after)
	if (after ~ /\|\|/) return ""
	if (t ~ /\]\]?[ \t]*&&[ \t]*\[/) return "tests chained with &&"
	last = after; sub(/^[ \t]+/, "", last)
	if (last ~ /^(return|continue|break|exit|local|export|shift|set|:|echo|printf|unset)([ \t;]|$)/) return ""
	# an assignment alone (not one before a command: VAR=x cmd)
	if (last ~ /^[A-Za-z_][A-Za-z_0-9]*(\[[^]]*\])?\+?=(\([^)]*\)|[^ \t;]*)[ \t;]*$/) return ""
	return "a list joined with &&"
}

function flush_body(    i) {
	for (i = 1; i < nl; i++)
		if (why[i] != "") {
			printf "%s:%d: cannot fail (%s, not the last line of its %s): %s\n", FILENAME, ln[i], why[i], kind, tx[i]
			found = 1
		}
	inbody = 0
}

FNR == 1 { inbody = 0; heredoc = ""; q = ""; d = 0; pending = "" }

# inside a here-document: only its end matters
heredoc != "" {
	line = $0
	if (heredoc_tabs) sub(/^\t+/, "", line)
	if (line == heredoc) heredoc = ""
	next
}

# the start of a test or of a function defined over several lines
!inbody && q == "" && (/^@test .*\{[ \t]*$/ || /^[A-Za-z_][A-Za-z_0-9-]*\(\)[ \t]*\{[ \t]*$/ || /^function [A-Za-z_][A-Za-z_0-9-]*.*\{[ \t]*$/) {
	kind = ($0 ~ /^@test/) ? "test" : "function"
	inbody = 1; nl = 0; pending = ""
	next
}
inbody && q == "" && d == 0 && pending == "" && /^\}/ { flush_body(); next }

inbody {
	# the here-document this line opens, if any (its body is skipped)
	t = strip($0)
	hl = $0; gsub(/<<</, "", hl)
	if (match(hl, "<<-?[ \t]*[\"" sq "]?[A-Za-z_]+")) {
		hd = substr(hl, RSTART, RLENGTH)
		heredoc_tabs = (hd ~ /^<<-/)
		sub(/^<<-?[ \t]*/, "", hd); gsub("[\"" sq "]", "", hd)
		heredoc = hd
	}
	if (pending == "") { start = FNR; raw = $0; acc = t }
	else { raw = raw " " $0; acc = acc " " t }
	# continued: a backslash or an operator (&&, ||, |) at its end, an open quote or $( ... )
	if (q != "" || d > 0 || $0 ~ /\\$/ || t ~ /(&&|\|\||\|)[ \t]*$/) { pending = 1; next }
	pending = ""
	s = acc; gsub(/[ \t]/, "", s)
	if (s == "") next
	r = raw; sub(/^[ \t]+/, "", r)
	if (length(r) > 120) r = substr(r, 1, 117) "..."
	nl++; ln[nl] = start; tx[nl] = r; why[nl] = bad(acc)
	next
}
END { exit found ? 1 : 0 }
' "$@"
