# shellcheck shell=bash
# tests/runner/matrix.sh - sourced by run.sh: reads a matrix file (tests/runner/matrix.cfg
# describes the format), picks the boots ONLY= or GROUP= name, and makes the one-boot
# matrix of `make test CPU=... CMDLINE=...`.
#
# After matrix_read, boots holds the section names in file order and cfg["NAME/KEY"]
# each boot's values: the defaults for firmware, cpu, mem and smp filled in; check and
# expect_fatal hold one value a line.

declare -A cfg=()
boots=()

# Keys a section may give once, and keys it may repeat (one value a line).
single_keys=" firmware cpu mem smp cmdline qemu_args kernel fragment serial spcr monitor timeout groups expect_halt "
repeat_keys=" check expect_fatal "

# matrix_error FILE LINE TEXT: prints "FILE:LINE: TEXT" on stderr; returns 1.
matrix_error() {
	echo "warden: $1:$2: $3" >&2
	return 1
}

# matrix_read FILE: fills boots and cfg from FILE; returns 1 with a message naming the
# file and line on any malformed line, unknown key, repeated section or bad value.
matrix_read() {
	local file=$1 line n=0 name='' key value why=0
	[ -r "$file" ] || { echo "warden: matrix file $file: cannot be read" >&2; return 1; }
	while IFS= read -r line || [ -n "$line" ]; do
		n=$((n + 1))
		case ${line#"${line%%[![:space:]]*}"} in
		"") why=0 ;;
		\#*) why=1 ;;
		\[*\])
			name=${line#[}
			name=${name%]}
			[ "$why" = 1 ] || matrix_error "$file" $n "[$name] has no comment above it saying why the boot exists" || return 1
			[[ $name =~ ^[A-Za-z0-9._-]+$ ]] || matrix_error "$file" $n "'$name': a boot name is letters, digits, '.', '_' and '-'" || return 1
			[ -z "${cfg[$name/firmware]+set}" ] || matrix_error "$file" $n "[$name] appears twice" || return 1
			boots+=("$name")
			cfg[$name/firmware]=seabios cfg[$name/cpu]=max,vendor=GenuineIntel
			cfg[$name/mem]=512M cfg[$name/smp]=1
			why=0
			;;
		*=*)
			[ -n "$name" ] || matrix_error "$file" $n "'$line' comes before the first [boot] section" || return 1
			key=${line%%=*} value=${line#*=}
			key=${key//[[:space:]]/}
			value=${value#"${value%%[![:space:]]*}"}
			value=${value%"${value##*[![:space:]]}"}
			matrix_set "$file" $n "$name" "$key" "$value" || return 1
			why=0
			;;
		*) matrix_error "$file" $n "'$line' is not a comment, a [boot] line or a key = value line" || return 1 ;;
		esac
	done <"$file"
	[ "${#boots[@]}" -gt 0 ] || { echo "warden: $file: no [boot] section" >&2; return 1; }
	for name in "${boots[@]}"; do
		[ -z "${cfg[$name/expect_halt]:-}" ] || [ -z "${cfg[$name/check]:-}${cfg[$name/expect_fatal]:-}" ] ||
			matrix_error "$file" "[$name]" "expect_halt cannot go with check or expect_fatal (the boot never reports)" || return 1
	done
}

# matrix_set FILE LINE NAME KEY VALUE: stores one key of boot NAME; returns 1 with a
# message if the key is unknown, given twice, or its value is not one the key takes.
matrix_set() {
	local file=$1 n=$2 name=$3 key=$4 value=$5 dir=${top:?}/tests/runner
	if [[ $repeat_keys == *" $key "* ]]; then
		cfg[$name/$key]+=${cfg[$name/$key]:+$'\n'}$value
	elif [[ $single_keys == *" $key "* ]]; then
		[ -z "${cfg[$name/$key/given]:-}" ] || matrix_error "$file" "$n" "[$name] gives $key twice" || return 1
		cfg[$name/$key]=$value cfg[$name/$key/given]=1
	else
		matrix_error "$file" "$n" "'$key' is not a key (keys:$single_keys${repeat_keys# })" || return 1
	fi
	case $key in
	firmware) [[ $value =~ ^(seabios|ovmf|ovmf-bios)$ ]] || matrix_error "$file" "$n" "firmware = $value: expected seabios, ovmf or ovmf-bios" ;;
	smp | timeout | fragment) [[ $value =~ ^[1-9][0-9]*$ ]] || matrix_error "$file" "$n" "$key = $value: expected a whole number above 0" ;;
	check) [ -x "$dir/checks/$value.sh" ] || matrix_error "$file" "$n" "check = $value: no script tests/runner/checks/$value.sh" ;;
	monitor) [ -r "$dir/monitor/$value.mon" ] || matrix_error "$file" "$n" "monitor = $value: no script tests/runner/monitor/$value.mon" ;;
	kernel) [[ $value =~ ^[A-Za-z0-9_-]+$ ]] || matrix_error "$file" "$n" "kernel = $value: expected a NAME of build/kernel-NAME.elf" ;;
	expect_fatal | expect_halt) [ -n "$value" ] || matrix_error "$file" "$n" "$key needs the text the log must hold" ;;
	esac
}

# matrix_select ONLY GROUP: keeps in boots only those named in the comma-separated ONLY
# and those whose groups hold GROUP (either may be empty: no filter). Returns 1 with the
# valid names if a name in ONLY is no boot or GROUP no group, or nothing is left.
matrix_select() {
	local only=$1 group=$2 wanted kept=() name all_groups
	local -A known=()
	for name in "${boots[@]}"; do known[$name]=1; done
	IFS=, read -ra wanted <<<"$only"
	for name in "${wanted[@]}"; do
		[ -n "${known[$name]:-}" ] && continue
		echo "warden: ONLY=$only: '$name' is no boot of the matrix; the boots are:" >&2
		echo "${boots[*]}" | fold -s -w 76 | sed 's/^/  /' >&2
		return 1
	done
	all_groups=$(for name in "${boots[@]}"; do printf '%s\n' ${cfg[$name/groups]:-}; done | sort -u | tr '\n' ' ')
	if [ -n "$group" ] && [[ " $all_groups" != *" $group "* ]]; then
		echo "warden: GROUP=$group is no group of the matrix; the groups are: ${all_groups% }" >&2
		return 1
	fi
	for name in "${boots[@]}"; do
		[ -z "$only" ] || [[ ",$only," == *",$name,"* ]] || continue
		[ -z "$group" ] || [[ " ${cfg[$name/groups]:-} " == *" $group "* ]] || continue
		kept+=("$name")
	done
	[ "${#kept[@]}" -gt 0 ] || { echo "warden: no boot is both in ONLY=$only and in GROUP=$group" >&2; return 1; }
	boots=("${kept[@]}")
}

# matrix_single FILE: writes to FILE the one boot "single" that CPU, MEM, SMP, UEFI,
# CMDLINE and QEMU_ARGS describe (the defaults of matrix.cfg for what is not given).
matrix_single() {
	local firmware
	case ${UEFI:-} in
	"" | 0) firmware=seabios ;;
	1) firmware=ovmf ;;
	bios) firmware=ovmf-bios ;;
	*) echo "warden: UEFI=$UEFI: expected empty, 0, 1 (OVMF pflash) or bios (OVMF.fd -bios)" >&2; return 1 ;;
	esac
	{
		echo "# the configuration given to make test (CPU MEM SMP UEFI CMDLINE QEMU_ARGS)"
		echo "[single]"
		echo "firmware = $firmware"
		echo "cpu = ${CPU:-max,vendor=GenuineIntel}"
		echo "mem = ${MEM:-512M}"
		echo "smp = ${SMP:-1}"
		echo "cmdline = ${CMDLINE:-}"
		echo "qemu_args = ${QEMU_ARGS:-}"
	} >"$1"
}
