# Every numeric option of every tool, as a hostile user would type it: a
# number past the type's range is refused, never wrapped round to a small
# one (sscanf's %d made 4294967397x101 into 101x101); a sign or blank in
# front, an empty value and trailing junk are refused; each as a usage
# error (exit 2) in one line naming the option.
. tests/lib.sh

big=4294967397      # 2^32 + 101: wraps to 101 in 32 bits
huge=18446744073709551717 # 2^64 + 101
# bad OPT VALUE TOOL ARGS...: TOOL ARGS OPT VALUE must be a usage error naming OPT
bad() {
	opt=$1 val=$2
	shift 2
	usage_error "$1 $opt '$val'" "$opt" "$B/$@" "$opt" "$val" </dev/null
}

for v in "${big}x101" "101x$big" "${huge}x101" " 101x101" "+101x101" "-5x101" 101x x101 "101x101 " 0x101 16385x1 "101x1e2"; do
	bad --size "$v" tgs-stack25d --images "$MINI/images"
done
for v in "${big}x10" "10x$huge"; do bad --size "$v" tgs-rle decode; done
for opt in --epochs --first-epoch --seed --cutout --size --preview-count --preview-channel; do
	for v in "$big" "$huge" " 7" "-1" "" 3x 1.5; do
		case $opt$v in --seed$big) continue ;; esac # 2^32 + 101 is a fine 64-bit seed
		bad "$opt" "$v" tgs-augment
	done
done
for opt in --hflip --keep-empty --noise --threshold; do
	for v in "" " 0.5" 0.5x nan inf 1e999; do
		case $opt in --threshold) bad "$opt" "$v" tgs-eval ;; *) bad "$opt" "$v" tgs-augment ;; esac
	done
done
for v in "0.5" "x,1" "0.5,x" "0.5,1,2" " 0.5,1" "0,0" "0,-1" "1e300,1" "0,inf" ","; do
	bad --norm "$v" tgs-augment
	bad --norm "$v" tgs-train -o "$T/never"
done
for opt in --batch --epochs --patience --threads --size --stage2-epoch; do
	for v in "$big" "$huge" " 4" "+4x" "" 2.0; do bad "$opt" "$v" tgs-train -o "$T/never"; done
done
for v in " -1" "-1" "$huge" "" 0x "1 "; do bad --seed "$v" tgs-train -o "$T/never"; done
for v in "$big" " 2" ""; do
	bad -k "$v" tgs-fold
	bad --batch "$v" tgs-mcdrop -m x.ckpt
	bad --threads "$v" tgs-mcdrop -m x.ckpt
done
for opt in --batch --epochs --threads --size --show; do
	for v in "$big" "$huge" " 4" "+4x" "" 2.0; do bad "$opt" "$v" tgs-mae -o "$T/never"; done
done
for opt in --ratio --lr --wd; do
	for v in "" " 0.5" 0.5x nan inf 1e999; do bad "$opt" "$v" tgs-mae -o "$T/never"; done
done
for v in " -1" "-1" "$huge" "" 0x "1 "; do bad --seed "$v" tgs-mae -o "$T/never"; done
for v in "0.5" "x,1" "0,0" "0,inf"; do bad --norm "$v" tgs-mae -o "$T/never"; done
for opt in --train --test --size; do
	for v in "$big" "$huge" " 7" "-1" "" 3x 1.5; do bad "$opt" "$v" tgs-synth -o "$T/never"; done
done
for v in " -1" "-1" "$huge" "" 0x "1 "; do bad --seed "$v" tgs-synth -o "$T/never"; done
for v in "" " 0.5" 0.5x nan inf 1e999 -0.1 1.5; do
	bad --empty "$v" tgs-synth -o "$T/never"
	bad --synth-frac "$v" tgs-augment --synth x.tsr
done
bad --synth-frac 1 tgs-augment --synth x.tsr
check_sh "no run directory from any of them" "[ ! -e '$T/never' ] && [ -z \"\$(ls -d '$T'/never.tmp-* 2>/dev/null)\" ]"

# the good ones still parse
check_sh "--size 101x101, --seed 0x10 (hex), --norm -0.5,.25 are fine" \
	"'$B/tgs-stack25d' -q --images '$MINI/images' --size 101x101 | '$B/tgs-augment' -q --seed 0x10 --norm -0.5,.25 --size 104 | '$B/tgs-info' | grep -q ': 12 samples'"
check_sh "--size 101 is 101x101 (one spelling of a size in every tool)" \
	"cmp <('$B/tgs-stack25d' -q --images '$MINI/images' --size 101) <('$B/tgs-stack25d' -q --images '$MINI/images' --size 101x101)"
exit 0
