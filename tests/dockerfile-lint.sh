#!/usr/bin/env bash
# dockerfile-lint.sh [DOCKERFILE [INSTALL_DEPS]]: the rules of ferry's
# Dockerfile that matter, where hadolint cannot be had (it is not in Debian
# bookworm).  Prints one line for each rule broken and exits 1 if any is.
#
#   - every FROM names an image with a tag, not "latest" (an ARG's default
#     counts), or an earlier stage
#   - the last stage runs as a user other than root (USER, not 0 or root)
#   - each RUN with "apt-get install" has --no-install-recommends, an
#     "apt-get update" before it and "rm -rf /var/lib/apt/lists/*" after it,
#     in the same RUN
#   - no ADD of a URL (COPY, or a download that can be checked)
#   - the builder stage installs the -dev packages of scripts/install-deps.sh,
#     and the programs go in with "make install"
set -u

file=${1:-Dockerfile}
deps=${2:-$(dirname "$0")/../scripts/install-deps.sh}
[ -r "$file" ] || { echo "dockerfile-lint: cannot read $file" >&2; exit 2; }

bad=0
fail() {
	echo "$file: $*"
	bad=1
}

# instructions, one a line: continuation lines joined, comments dropped
instructions=$(tr '\t' ' ' <"$file" | sed -e 's/^ *#.*$//' | sed -e ':a' -e '/\\$/{N;s/\\\n/ /;ba' -e '}' |
	grep -v '^ *$')

declare -A args stages
while read -r word rest; do
	case ${word^^} in
	ARG)
		[[ "$rest" == *=* ]] && args[${rest%%=*}]=${rest#*=}
		;;
	FROM)
		set -- $rest
		image=$1
		# an ARG's default stands for ${NAME}
		while [[ "$image" =~ \$\{([A-Za-z_][A-Za-z0-9_]*)\} ]]; do
			name=${BASH_REMATCH[1]}
			image=${image//\$\{$name\}/${args[$name]:-}}
		done
		if [ -n "${stages[$image]:-}" ]; then
			:
		elif [[ "$image" != *:* ]] || [[ "${image##*/}" != *:* ]]; then
			fail "FROM $1: no tag (pin one, not latest)"
		elif [[ "$image" == *:latest ]]; then
			fail "FROM $1: the tag latest"
		fi
		[ "${2:-}" ] && [ "${2^^}" = AS ] && stages[$3]=1
		last_user=root
		;;
	USER)
		last_user=${rest%%:*}
		;;
	RUN)
		if [[ "$rest" == *"apt-get install"* ]]; then
			[[ "$rest" == *"--no-install-recommends"* ]] || fail "RUN apt-get install without --no-install-recommends"
			[[ "$rest" == *"apt-get update"*"apt-get install"* ]] ||
				fail "RUN apt-get install without an apt-get update before it in the same RUN"
			[[ "$rest" == *"apt-get install"*"rm -rf /var/lib/apt/lists/*"* ]] ||
				fail "RUN apt-get install that leaves /var/lib/apt/lists behind"
		fi
		;;
	ADD)
		[[ "$rest" =~ (https?|ftp):// ]] && fail "ADD of a URL: $rest"
		;;
	esac
done <<<"$instructions"

case ${last_user:-root} in
root|0) fail "the last stage runs as root (no USER, or USER root)" ;;
esac

# the build packages of install-deps.sh (the -dev ones) in the builder stage
builder=$(awk 'toupper($1) == "FROM" { n++ } n == 1' <<<"$instructions")
for p in $(grep -o '[a-z0-9.+-]*-dev\b' "$deps" | grep -v '^libclang' | sort -u); do
	[[ " $builder " == *" $p "* ]] || fail "the builder stage does not install $p (scripts/install-deps.sh)"
done
grep -q 'make .*install' <<<"$instructions" || fail "the programs are not installed with make install"

exit $bad
