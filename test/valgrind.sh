#!/usr/bin/env bash
# Run the regression suite against a server under valgrind memcheck and
# report invalid memory accesses whose stacks go through lead_mgmt.so.
#
#   bash test/valgrind.sh [REGRESS TESTS...]     default: every sql/*.sql
#
# A measurement, not part of `harness.sh test` (it takes minutes).  The
# server is Debian's, built without USE_VALGRIND: memcheck sees palloc's
# blocks, not its chunks, so it catches reads of uninitialised memory,
# accesses outside malloc'd blocks (large allocations, stack, globals) and
# bad frees, but not an overrun that stays inside a memory-context block.
# PostgreSQL's own known reports (uninitialised padding written to WAL or
# sent to the stats collector, ...) are suppressed (the file written below)
# or filtered out: only error reports with a lead_mgmt.so frame count.
#
# Environment: LM_VG_TMP (default /tmp/lm_valgrind), LM_VG_PORT (54359),
# LM_VG_LOGDIR (default tmp_check/valgrind: valgrind's per-process logs,
# the server log, the regression output), LM_VG_REPORT_ONLY=1 (only analyse
# the logs of an earlier run in LM_VG_LOGDIR).  The extension must be built and
# installed (make && make install); build with -g (PGXS does) for file:line.
set -euo pipefail

SELF=$(readlink -f "${BASH_SOURCE[0]}")
REPO=$(cd "$(dirname "$SELF")/.." && pwd)
cd "$REPO"

export LM_TMP=${LM_VG_TMP:-/tmp/lm_valgrind}
export LM_PORT=${LM_VG_PORT:-54359}
LOGDIR=${LM_VG_LOGDIR:-$REPO/tmp_check/valgrind}
export LM_LOGDIR=$LOGDIR/harness
unset LM_KEEP
HARNESS=(bash "$REPO/test/harness.sh")
PG_CONFIG=${PG_CONFIG:-/usr/lib/postgresql/15/bin/pg_config}
BINDIR=$("$PG_CONFIG" --bindir)
DATA=$LM_TMP/data

command -v valgrind >/dev/null || {
	SUDO=(); [[ $(id -u) == 0 ]] || SUDO=(sudo)
	"${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq valgrind >/dev/null
}

if (($# > 0)); then
	tests=("$@")
else
	tests=()
	for f in sql/*.sql; do f=${f#sql/}; tests+=("${f%.sql}"); done
fi

say() { printf '==> %s\n' "$*"; }
if [[ -n ${LM_VG_REPORT_ONLY:-} ]]; then
	# analyse the logs of an earlier run again (the report function is defined at the end)
	eval "$(sed -n '/^report() {/,/^}/p' "$SELF")"
	report
	exit
fi

rm -rf "$LOGDIR"
mkdir -p "$LOGDIR/vg"
chmod 777 "$LOGDIR/vg"
SUPP=$LOGDIR/valgrind.supp
cat >"$SUPP" <<'EOF'
# Minimal valgrind suppressions for a PostgreSQL server built without
# USE_VALGRIND (Debian's), written by test/valgrind.sh.  They cover what
# PostgreSQL's own src/tools/valgrind.supp covers for the same reason:
# structs with uninitialised padding that the server writes to files,
# pipes and sockets (WAL records, statistics messages, ...).  Reports in
# lead_mgmt code are never suppressed here; valgrind.sh keeps only those.
{
	pg_padding_write
	Memcheck:Param
	write(buf)
	fun:*
}
{
	pg_padding_pwrite
	Memcheck:Param
	pwrite64(buf)
	fun:*
}
{
	pg_padding_send
	Memcheck:Param
	sendto(msg)
	fun:*
}
{
	pg_padding_send2
	Memcheck:Param
	send(msg)
	fun:*
}
{
	pg_padding_sendmsg
	Memcheck:Param
	sendmsg(msg.msg_iov[0])
	fun:*
}
{
	pg_padding_writev
	Memcheck:Param
	writev(vector[...])
	fun:*
}
{
	pg_padding_pwritev
	Memcheck:Param
	pwritev(vector[...])
	fun:*
}
EOF
chmod 644 "$SUPP"

# initdb and the configuration through the harness; then the server is
# restarted under valgrind by its owner
"${HARNESS[@]}" start >"$LOGDIR/setup.log" 2>&1 || { cat "$LOGDIR/setup.log"; exit 1; }
owner=$(stat -c %U "$DATA")
as_owner() { if [[ $(id -un) == "$owner" ]]; then (cd / && "$@"); else (cd / && runuser -u "$owner" -- "$@"); fi; }
as_owner "$BINDIR/pg_ctl" -D "$DATA" -m fast -w stop >/dev/null

cleanup() {
	local rc=$?
	trap - EXIT INT TERM
	if [[ -f $DATA/postmaster.pid ]]; then
		as_owner "$BINDIR/pg_ctl" -D "$DATA" -m fast -w -t 300 stop >/dev/null 2>&1 || true
	fi
	cp "$LM_TMP/server.log" "$LOGDIR/server.log" 2>/dev/null || true
	"${HARNESS[@]}" stop >/dev/null 2>&1 || true
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# autovacuum off: fewer processes under valgrind, and the suite does not need it
cat >>"$DATA/postgresql.conf" <<EOF
autovacuum = off
max_connections = 20
EOF

say "starting postgres under valgrind (logs in $LOGDIR/vg)"
as_owner nohup valgrind --tool=memcheck --trace-children=yes --track-origins=yes \
	--read-var-info=no --num-callers=40 --error-limit=no --leak-check=no \
	--suppressions="$SUPP" \
	--log-file="$LOGDIR/vg/vg.%p.log" \
	"$BINDIR/postgres" -D "$DATA" >"$LM_TMP/server.log" 2>&1 &
vgpid=$!
export PGHOST=$LM_TMP PGPORT=$LM_PORT PGUSER=postgres
for _ in $(seq 1 300); do
	"$BINDIR/pg_isready" -q && break
	kill -0 "$vgpid" 2>/dev/null || break
	sleep 1
done
"$BINDIR/pg_isready" -q || { tail -n 30 "$LM_TMP/server.log"; cat "$LOGDIR"/vg/vg.*.log | tail -n 20; exit 1; }

say "regression suite under valgrind: ${tests[*]}"
t0=$SECONDS
rc=0
make -s installcheck PG_CONFIG="$PG_CONFIG" REGRESS="${tests[*]}" ISOLATION= \
	>"$LOGDIR/regress.log" 2>&1 || rc=$?
say "regression suite finished in $((SECONDS - t0))s (exit $rc: output differences under valgrind are not counted here)"
grep -E '^(test |ok |not ok |\s+[a-z0-9_]+ +\.\.\.)' "$LOGDIR/regress.log" || true
cp regression.diffs "$LOGDIR/" 2>/dev/null || true

as_owner "$BINDIR/pg_ctl" -D "$DATA" -m fast -w -t 300 stop >/dev/null || true

# ------------------------------------------------------------ report
# An error report is a block of ==pid== lines from its headline to the next
# empty ==pid== line.  It is lead_mgmt's when a frame is in lead_mgmt.so:
# "(in .../lead_mgmt.so)" without debug information, "fn (file.c:line)" of
# one of src/*.c with it (Debian's postgres is stripped: its frames never
# carry a file name).  Known false positives of PostgreSQL itself that our
# calls reach are counted apart:
#   * RE_compile_and_cache reorders its cache with memmove(); Debian builds
#     with _FORTIFY_SOURCE, whose __memmove_chk valgrind takes for an
#     overlapping __memcpy_chk ("Source and destination overlap").  Plain
#     SQL (a CHECK with ~) gets the same report.
#   * the dynamic loader's own reads: when a query that lead_mgmt runs is
#     the first to reach JIT, PostgreSQL dlopen()s llvmjit.so, and ld.so's
#     word-at-a-time string functions (is_dst, strncmp) read past the end
#     of a short strdup'd rpath ("Invalid read" under _dl_map_object).
report() {
	local srcs
	srcs=$(cd "$REPO/src" && ls *.c | sed 's/\.c$//' | paste -sd'|')
	say "valgrind reports"
	echo "processes traced:                  $(ls "$LOGDIR"/vg/vg.*.log | wc -l)"
	awk -v srcs="$srcs" -v out_ours="$LOGDIR/lead_mgmt_errors.txt" -v out_fp="$LOGDIR/known_false_positives.txt" '
		BEGIN { head = "^==[0-9]+== (Invalid|Conditional|Use of uninit|Syscall param|Mismatched|Source and destination|Argument)";
		        ourframe = "(lead_mgmt\\.so\\)|\\((" srcs ")\\.c:[0-9]+\\))"; all = 0; ours = 0; fp = 0 }
		function flush() {
			if (!inblk) return
			all++
			if (isours) {
				if (blk ~ /Source and destination overlap/ && blk ~ /RE_compile_and_cache/) { fp++; printf "%s\n", blk > out_fp }
				else if (blk ~ /Invalid read/ && blk ~ /_dl_map_object/ && blk ~ /dlopen/) { fp++; printf "%s\n", blk > out_fp }
				else { ours++; printf "%s\n", blk > out_ours }
			}
			inblk = 0
		}
		$0 ~ head { flush(); inblk = 1; blk = $0 "\n"; isours = 0; next }
		inblk && /^==[0-9]+== *$/ { flush(); next }
		inblk { blk = blk $0 "\n"; if ($0 ~ ourframe) isours = 1 }
		END { flush(); printf "error reports (all):               %d\n", all;
		      printf "  through lead_mgmt, known false positives (PostgreSQL, glibc): %d\n", fp;
		      printf "  in lead_mgmt:                    %d\n", ours; print ours > (out_ours ".count") }
	' "$LOGDIR"/vg/vg.*.log
	touch "$LOGDIR/lead_mgmt_errors.txt"
	ours=$(cat "$LOGDIR/lead_mgmt_errors.txt.count")
	if ((ours > 0)); then
		echo "----- distinct lead_mgmt frames"
		grep -oE '(by|at) 0x[0-9A-F]+: [A-Za-z_0-9]+ \([a-z_]+\.c:[0-9]+\)' "$LOGDIR/lead_mgmt_errors.txt" |
			sed -E 's/^(by|at) 0x[0-9A-F]+: //' | sort | uniq -c | sort -rn | head -n 20
		echo "----- first reports (all of them: $LOGDIR/lead_mgmt_errors.txt)"
		head -n 80 "$LOGDIR/lead_mgmt_errors.txt"
	fi
	echo "logs: $LOGDIR"
	((ours == 0))
}
report
