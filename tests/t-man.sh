#!/bin/sh
# The manual against the tools: every tool in $TGS_BIN has a page, every
# page is clean roff that renders (with an EXAMPLES section), the pages and
# the tools' --help agree on the options, and --help/--version behave as
# man/tgs.7 says (exit 0, text on stdout, nothing on stderr).
. tests/lib.sh

BS=$(printf '\b')

# render PAGE > TEXT: plain text, one paragraph per line as far as the width
# allows, so an option is never split at a line end. man -l is what a user
# runs; mandoc and groff are the fall-backs. Overstrike bold/underline is
# stripped in case the formatter leaves it in.
render() {
	if command -v man >/dev/null 2>&1; then
		(unset MAN_KEEP_FORMATTING && MANWIDTH=1000 man -l "$1") 2>"$T/render.err"
	elif command -v mandoc >/dev/null 2>&1; then
		mandoc -Tascii -O width=1000 "$1" 2>"$T/render.err"
	else
		groff -man -Tascii -P-c -rLL=1000n "$1" 2>"$T/render.err"
	fi | sed "s/.$BS//g"
}

# lint PAGE: roff warnings (and worse) go to $T/lint; exit status says clean.
lint() {
	if command -v mandoc >/dev/null 2>&1; then
		mandoc -Tlint -Wwarning "$1" >"$T/lint" 2>&1 && [ ! -s "$T/lint" ]
	else
		groff -man -ww -z "$1" >"$T/lint" 2>&1 && [ ! -s "$T/lint" ]
	fi
}
have_lint=
if command -v mandoc >/dev/null 2>&1 || command -v groff >/dev/null 2>&1; then have_lint=1; fi

# The sections of a rendered page: headings are the unindented lines.
section() { # section NAME < text
	awk -v s="$1" '/^[^ \t]/ { on = ($0 == s); next } on'
}

# Long and short options in a text: "--name" and "-x" standing alone.
long_opts() { grep -oE -- '(^|[^A-Za-z0-9-])--[a-z][a-z0-9-]*' | sed 's/^[^-]*//' | sort -u; }
short_opts() { grep -oE -- '(^|[][ ,|])-[A-Za-z]([],| ]|$)' | grep -oE -- '-[A-Za-z]' | sort -u; }
# has_opt OPT FILE: OPT appears in FILE as a whole option, not a prefix.
has_opt() { grep -qE -- "(^|[^A-Za-z0-9-])$1([^A-Za-z0-9-]|\$)" "$2"; }

tools=
for t in "$B"/tgs-*; do
	[ -f "$t" ] && [ -x "$t" ] && tools="$tools ${t##*/}"
done
if [ -z "$tools" ]; then
	fail "tools found" "no executable $B/tgs-*; run make"
	exit 0
fi
pages=$(ls man/*.[1-9] 2>/dev/null)

# --- the tools' own --help and --version ---
version=
for t in $tools; do
	"$B/$t" --help >"$T/help.$t" 2>"$T/err"
	rc=$?
	if [ "$rc" -ne 0 ]; then fail "$t --help exits 0" "exit $rc: $(head -c 200 "$T/err")"
	elif [ -s "$T/err" ]; then fail "$t --help exits 0" "wrote to stderr: $(head -c 200 "$T/err")"
	elif ! head -n 1 "$T/help.$t" | grep -q "^usage: $t "; then
		fail "$t --help exits 0" "stdout does not start with 'usage: $t': $(head -c 200 "$T/help.$t")"
	else ok "$t --help exits 0 and prints usage to stdout"; fi

	"$B/$t" --version >"$T/out" 2>"$T/err"
	rc=$?
	if [ "$rc" -ne 0 ]; then fail "$t --version exits 0" "exit $rc: $(head -c 200 "$T/err")"
	elif [ -s "$T/err" ]; then fail "$t --version exits 0" "wrote to stderr: $(head -c 200 "$T/err")"
	elif ! head -n 1 "$T/out" | grep -qE "^$t \(tgs\) [0-9]+\.[0-9]+\.[0-9]+\$" ||
		{ case $t in tgs-train | tgs-mcdrop | tgs-refine | tgs-mae) ! sed -n 2p "$T/out" | grep -q '^cpu: OpenBLAS .* kernels' || [ "$(wc -l <"$T/out")" -ne 2 ] ;;
			*) [ "$(wc -l <"$T/out")" -ne 1 ] ;; esac; }; then
		fail "$t --version exits 0" "stdout is not '$t (tgs) X.Y.Z' (and, for a tool that runs a model, its engine): $(head -c 200 "$T/out")"
	else
		ok "$t --version exits 0 and prints '$(head -n 1 "$T/out")' to stdout"
		v=$(head -n 1 "$T/out" | sed 's/.* //')
		if [ -n "$version" ] && [ "$v" != "$version" ]; then
			fail "the tools agree on the version" "$t says $v, another says $version"
		fi
		version=$v
	fi
done

# --- every page: clean, renders, has EXAMPLES, right name and version ---
for p in $pages; do
	name=${p##*/}
	if [ -z "$have_lint" ]; then
		skip "$name lints clean" "neither mandoc nor groff is installed"
	elif lint "$p"; then
		ok "$name lints clean"
	else
		fail "$name lints clean" "$(head -c 400 "$T/lint" | tr '\n' ' ')"
	fi

	render "$p" >"$T/text.$name"
	base=${name%.*} sec=${name##*.}
	title=$(echo "$base($sec)" | tr '[:lower:]' '[:upper:]')
	if [ ! -s "$T/text.$name" ] || [ "$(grep -c . "$T/text.$name")" -lt 10 ]; then
		fail "$name renders" "little or no text: $(head -c 300 "$T/render.err")"
	elif [ -s "$T/render.err" ]; then
		fail "$name renders" "the formatter complained: $(head -c 300 "$T/render.err")"
	elif ! head -n 1 "$T/text.$name" | grep -qF "$title"; then
		fail "$name renders" "the header does not name $title: $(head -n 1 "$T/text.$name" | tr -s ' ')"
	elif ! section NAME <"$T/text.$name" | grep -qE "^ +$base - "; then
		fail "$name renders" "its NAME section does not start '$base - '"
	elif ! grep -qx 'EXAMPLES' "$T/text.$name" || [ -z "$(section EXAMPLES <"$T/text.$name" | tr -d ' \n')" ]; then
		fail "$name renders" "no EXAMPLES section, or an empty one"
	else
		ok "$name renders ($(grep -c . "$T/text.$name") lines) with NAME and EXAMPLES"
	fi

	# the footer's "tgs X.Y.Z" must be the version the tools report
	pv=$(sed -n 's/^\.TH .*"tgs \([0-9][0-9.]*\)".*/\1/p' "$p")
	if [ -z "$version" ]; then
		skip "$name states the tools' version" "no tool reported a version"
	elif [ "$pv" = "$version" ]; then
		ok "$name states the tools' version ($version)"
	else
		fail "$name states the tools' version" ".TH says '$pv', the tools say $version"
	fi

	# every page it refers to exists
	missing=
	for ref in $(grep -oE 'tgs(-[a-z0-9]+)?\([1-9]\)' "$T/text.$name" | sort -u); do
		f="man/${ref%(*}.$(echo "$ref" | sed 's/.*(\(.\))/\1/')"
		[ -f "$f" ] || missing="$missing $ref"
	done
	if [ -z "$missing" ]; then ok "$name refers only to pages that exist"
	else fail "$name refers only to pages that exist" "no page for:$missing"; fi
done

# --- every tool: a page, and the page and --help agree on options ---
for t in $tools; do
	p=man/$t.1
	if [ ! -f "$p" ]; then
		fail "$t has a man page" "$p is missing"
		continue
	fi
	ok "$t has a man page ($p)"
	text=$T/text.$t.1 # rendered above, with every page
	[ -s "$T/help.$t" ] || continue # --help failed; already reported

	missing=
	for o in $(long_opts <"$T/help.$t"); do has_opt "$o" "$text" || missing="$missing $o"; done
	n=$(long_opts <"$T/help.$t" | grep -c .)
	if [ "$n" -eq 0 ]; then fail "$t.1 documents every long option of --help" "found no long options in --help"
	elif [ -z "$missing" ]; then ok "$t.1 documents every long option of --help ($n)"
	else fail "$t.1 documents every long option of --help" "missing:$missing"; fi

	missing=
	for o in $(short_opts <"$T/help.$t"); do has_opt "$o" "$text" || missing="$missing $o"; done
	if [ -z "$missing" ]; then ok "$t.1 documents every short option of --help ($(short_opts <"$T/help.$t" | tr '\n' ' '))"
	else fail "$t.1 documents every short option of --help" "missing:$missing"; fi

	# and the other way: an option in the page's OPTIONS tags is one --help lists
	section OPTIONS <"$text" | grep -E '^ {7}-' >"$T/tags"
	extra=
	for o in $(long_opts <"$T/tags"); do has_opt "$o" "$T/help.$t" || extra="$extra $o"; done
	if [ ! -s "$T/tags" ]; then fail "$t.1 OPTIONS lists only real options" "no option tags found in OPTIONS"
	elif [ -z "$extra" ]; then ok "$t.1 OPTIONS lists only options --help knows"
	else fail "$t.1 OPTIONS lists only options --help knows" "unknown to $t:$extra"; fi

	if [ -f man/tgs.7 ] && grep -qF "$t(1)" "$T/text.tgs.7"; then ok "tgs.7 names $t(1)"
	else fail "tgs.7 names $t(1)" "man/tgs.7 is missing or does not mention $t(1)"; fi
done
exit 0
