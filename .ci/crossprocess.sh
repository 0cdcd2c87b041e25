#!/usr/bin/env bash
# Cross-process checks of the chip service (issue 9), called by .ci/run:
#   1. the committed generated code (Go and Python) is what chip.proto
#      generates;
#   2. cmd/train against two chipd processes (chips 1 and 2) gives
#      bit-identical accuracies and losses to the same run on the local
#      chips, and so does a run during which chipd is killed (SIGKILL) and
#      restarted;
#   3. cmd/train against the Python example server gives bit-identical
#      accuracies and losses to -device ideal;
#   4. every server drains and exits 0 on SIGTERM.
# Short runs on the first 10,000 MNIST training images: about 3 minutes.
set -euo pipefail
cd "$(dirname "$0")/.."
export MNIST_DIR="${MNIST_DIR:-../shared/mnist}"
PY=/usr/bin/python3 # Debian's, with Debian's grpcio and numpy

echo "== crossprocess: system packages (protoc, Python gRPC and numpy)"
if ! command -v protoc >/dev/null || ! $PY -c 'import grpc, numpy, grpc_tools.protoc' 2>/dev/null; then
	for try in 1 2 3; do
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
			protobuf-compiler python3-grpcio python3-grpc-tools python3-protobuf python3-numpy >/dev/null && break
		sleep 10
	done
fi
protoc --version

work=$(mktemp -d)
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null || true; done
	rm -rf "$work"
}
trap cleanup EXIT

echo "== crossprocess: generated code is up to date"
GOBIN="$work/bin" go install google.golang.org/protobuf/cmd/protoc-gen-go@v1.36.12
GOBIN="$work/bin" go install google.golang.org/grpc/cmd/protoc-gen-go-grpc@v1.6.2
mkdir -p "$work/gen/go" "$work/gen/py"
PATH="$work/bin:$PATH" protoc -I . --go_out="$work/gen/go" --go_opt=paths=source_relative \
	--go-grpc_out="$work/gen/go" --go-grpc_opt=paths=source_relative chipproto/v1/chip.proto
diff -u chipproto/v1/chip.pb.go "$work/gen/go/chipproto/v1/chip.pb.go"
diff -u chipproto/v1/chip_grpc.pb.go "$work/gen/go/chipproto/v1/chip_grpc.pb.go"
$PY -m grpc_tools.protoc -I . --python_out="$work/gen/py" --grpc_python_out="$work/gen/py" chipproto/v1/chip.proto
diff -ru examples/python-chip-server/chipproto "$work/gen/py/chipproto" -x __pycache__
echo "generated code matches chip.proto"

echo "== crossprocess: the Python example server against the Go ideal device, call by call"
REQUIRE_PYTHON_SERVER=1 go test -count=1 ./examples/python-chip-server/

echo "== crossprocess: build"
go build -o "$work/chipd" ./cmd/chipd
go build -o "$work/train" ./cmd/train

port() { $PY -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }
wait_port() {
	for _ in $(seq 1 300); do
		if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then return 0; fi
		sleep 0.1
	done
	echo "nothing listens on port $1"; return 1
}
# start NAME PORT CMD...: runs a server in the background, its log in $work/NAME.log.
start() {
	local name=$1 p=$2; shift 2
	"$@" >>"$work/$name.log" 2>&1 &
	pids+=($!)
	eval "pid_$name=$!"
	wait_port "$p"
}
# stop NAME: SIGTERM, and the server must exit 0.
stop() {
	local name=$1 pid
	eval "pid=\$pid_$name"
	kill -TERM "$pid"
	if ! wait "$pid"; then echo "$name did not exit 0 on SIGTERM:"; cat "$work/$name.log"; exit 1; fi
	grep -q 'draining' "$work/$name.log" || { echo "$name did not drain:"; cat "$work/$name.log"; exit 1; }
	echo "$name drained and exited 0"
}
# same A B: results A and B have bit-identical accuracies, losses and devices.
same() {
	$PY - "$1" "$2" <<'EOF'
import json, sys
def key(p):
    r = json.load(open(p))
    hist = [(h["loss"], h["train_accuracy"], h["test_accuracy"]) for ph in ("float", "hil") for h in r["history"][ph] or []]
    return {"accuracy": r["accuracy"], "history": hist, "device": r["device"], "unseen": r.get("unseen_device")}
a, b = key(sys.argv[1]), key(sys.argv[2])
if a != b:
    print("DIFFER:\n", json.dumps(a, indent=1), "\n", json.dumps(b, indent=1))
    sys.exit(1)
print("bit-identical:", sys.argv[1], sys.argv[2], json.dumps(a["accuracy"]))
EOF
}

run_args=(-epochs 2 -hil-epochs 2 -trials 3 -train-limit 10000 -test-limit 2000)
head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$work/token"
p1=$(port); p2=$(port); p3=$(port); m1=$(port)

echo "== crossprocess: chipd for chips 1 and 2 (token), train remote vs local"
start chipd1 "$p1" "$work/chipd" -addr "127.0.0.1:$p1" -device chip -chip 1 -token-file "$work/token" -metrics-addr "127.0.0.1:$m1"
start chipd2 "$p2" "$work/chipd" -addr "127.0.0.1:$p2" -device chip -chip 2 -token-file "$work/token"
"$work/train" "${run_args[@]}" -device chip -chip 1 -other-chip 2 -out "$work/local" >/dev/null 2>"$work/local.log"
"$work/train" "${run_args[@]}" -device remote -remote "127.0.0.1:$p1" -other-remote "127.0.0.1:$p2" \
	-token-file "$work/token" -out "$work/remote" >/dev/null 2>"$work/remote.log"
same "$work/local/results.json" "$work/remote/results.json"
grep 'remote device closed' "$work/remote.log" | sed 's/^/  /'
for r in local remote; do
	$PY -c 'import json,sys; print("  %-7s img/s:" % sys.argv[2], json.load(open(sys.argv[1]))["throughput_img_per_s"])' "$work/$r/results.json" "$r"
done

echo "== crossprocess: chipd killed (SIGKILL) and restarted during in-the-loop training"
"$work/train" "${run_args[@]}" -device remote -remote "127.0.0.1:$p1" -other-remote "127.0.0.1:$p2" \
	-token-file "$work/token" -out "$work/restart" >/dev/null 2>"$work/restart.log" &
trainer=$!
pids+=($trainer)
updates() {
	$PY -c 'import sys, urllib.request
try:
    for l in urllib.request.urlopen(sys.argv[1], timeout=5).read().decode().splitlines():
        if l.startswith("chipd_weight_updates_total "): print(l.split()[1])
except OSError: pass' "http://127.0.0.1:$m1/metrics"
}
before=$(updates); before=${before:-0}
for _ in $(seq 1 600); do
	now=$(updates); now=${now:-0}
	if awk -v a="$now" -v b="$before" 'BEGIN{exit !(a >= b + 20)}'; then break; fi
	sleep 0.1
done
kill -9 "$pid_chipd1"; wait "$pid_chipd1" 2>/dev/null || true
echo "killed chipd 1 after $(( ${now%.*} - ${before%.*} )) updates of this run; restarting it in 1 s"
sleep 1
start chipd1 "$p1" "$work/chipd" -addr "127.0.0.1:$p1" -device chip -chip 1 -token-file "$work/token" -metrics-addr "127.0.0.1:$m1"
wait "$trainer"
grep -E 'server not answering|reachable again|new session' "$work/restart.log" | head -3 | sed 's/^/  /'
grep -q 'new session' "$work/restart.log" || { echo "the trainer did not notice the restart"; cat "$work/restart.log"; exit 1; }
same "$work/local/results.json" "$work/restart/results.json"
stop chipd1
stop chipd2

echo "== crossprocess: the Python example server (ideal device), train remote vs -device ideal"
start pyserver "$p3" $PY examples/python-chip-server/chip_server.py --addr "127.0.0.1:$p3" --token-file "$work/token"
"$work/train" "${run_args[@]}" -device ideal -out "$work/ideal" >/dev/null 2>"$work/ideal.log"
"$work/train" "${run_args[@]}" -device remote -remote "127.0.0.1:$p3" -token-file "$work/token" \
	-out "$work/python" >/dev/null 2>"$work/python.log"
same "$work/ideal/results.json" "$work/python/results.json"
grep -q 'unseen-chip evaluation needs a second server' "$work/python.log" || { echo "no line says the unseen chip was skipped"; exit 1; }
stop pyserver

echo "== crossprocess: 6 passed, 0 failed"
