#!/usr/bin/env python3
"""A chip server in Python: the analogloop chip protocol (chipproto/v1/chip.proto)
served for the ideal device, with numpy.

This is the proof that the host of a real chip can put that chip into
analogloop's loop in the language its software is written in. It serves the
ideal device -- per block of 128 rows floor(gain * sends * x.w), clamped to
int8, the blocks added and clamped again -- bit for bit as analogmac.Ideal
does, so a training run against it equals a run on `-device ideal`. The one
place a real chip's host would change is IdealDevice.run (and
IdealDevice.program): there it would call its own matrix-multiply, hxtorch's
(`hxtorch.perceptron.matmul` on the weights it programmed with the placement
given), instead of numpy.

Needs only Debian packages: python3-grpcio, python3-numpy, python3-protobuf.
The stubs chipproto/v1/chip_pb2.py and chip_pb2_grpc.py beside this file are
generated, from the repository's root, with Debian's python3-grpc-tools:

    python3 -m grpc_tools.protoc -I . --python_out=examples/python-chip-server \\
        --grpc_python_out=examples/python-chip-server chipproto/v1/chip.proto

Run it and train against it:

    python3 examples/python-chip-server/chip_server.py --addr 127.0.0.1:7071
    go run ./cmd/train -device remote -remote 127.0.0.1:7071

A token (--token-file F, or $ANALOGLOOP_CHIP_TOKEN) makes every call carry
"authorization: Bearer <token>"; without one the server listens on loopback
only. SIGTERM or SIGINT drains calls in progress and exits 0.
"""

import argparse
import hashlib
import hmac
import ipaddress
import json
import logging
import os
import secrets
import signal
import socket
import sys
import threading
from concurrent import futures

import grpc
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from chipproto.v1 import chip_pb2, chip_pb2_grpc  # noqa: E402

PROTOCOL = "analogloop.chip.v1"
TOKEN_ENV = "ANALOGLOOP_CHIP_TOKEN"

# The data path and the limits of analogmac (analogmac/device.go).
INPUT_MAX = 31
WEIGHT_MAX = 63
OUTPUT_MIN, OUTPUT_MAX = -128, 127
BLOCK_ROWS, BLOCK_COLS, ARRAY_COLS = 128, 256, 512
MAX_ROWS = MAX_COLS = 1 << 14
MAX_SENDS = 1024
MAX_BATCH = 1 << 16
DEFAULT_GAIN = 0.0018  # analogmac.DefaultGain

log = logging.getLogger("chip_server")


class Invalid(Exception):
    """A request field out of range: INVALID_ARGUMENT "<field>: <why>"."""

    def __init__(self, field, why):
        super().__init__(f"{field}: {why}")
        self.field, self.why = field, why


class Status(Exception):
    """Any other refusal, with its gRPC status code."""

    def __init__(self, code, message):
        super().__init__(message)
        self.code, self.message = code, message


class IdealDevice:
    """The ideal device: analogmac.Ideal, in numpy."""

    def __init__(self, gain):
        self.gain = float(gain)

    def spec_json(self):
        # The JSON analogmac.Spec of an ideal device, as Go encodes it.
        return json.dumps({"kind": "ideal", "gain_per_send": self.gain, "noise_std": 0}, separators=(",", ":"))

    def program(self, weights, rows, cols, sends, placement):
        """Prepares a weight matrix (rows x cols int8) for runs.

        A real chip's host writes the synapses here (hxtorch programs the
        weights onto the array at the placement) and returns its handle."""
        return weights.reshape(rows, cols).astype(np.float64)

    def run(self, prepared, sends, x, noise_key):
        """Returns the outputs (batch x cols int8) for inputs x (batch x rows uint8).

        A real chip's host calls its own multiply here -- hxtorch's
        perceptron matmul with num_sends=sends -- and ignores noise_key: its
        noise is real. The ideal device has none."""
        rows = prepared.shape[0]
        k = self.gain * sends  # the same float64 product as Go's GainPerSend * float64(sends)
        xf = x.astype(np.float64)
        tot = np.zeros((x.shape[0], prepared.shape[1]), dtype=np.int64)
        for r0 in range(0, rows, BLOCK_ROWS):
            r1 = min(r0 + BLOCK_ROWS, rows)
            # Integer sums below 2^24: exact in float64, as in Go's float32.
            acc = xf[:, r0:r1] @ prepared[r0:r1]
            tot += np.clip(np.floor(k * acc), OUTPUT_MIN, OUTPUT_MAX).astype(np.int64)
        return np.clip(tot, OUTPUT_MIN, OUTPUT_MAX).astype(np.int8)


def check_placement(rows, cols, row, column):
    """analogmac.Tiles' checks: every tile fits the array."""
    if row >= BLOCK_ROWS:
        raise Invalid("placement.row", f"{row}: want 0..{BLOCK_ROWS - 1}")
    if column >= ARRAY_COLS:
        raise Invalid("placement.column", f"{column}: want 0..{ARRAY_COLS - 1}")
    for r0 in range(0, rows, BLOCK_ROWS):
        n = min(r0 + BLOCK_ROWS, rows) - r0
        if row + n > BLOCK_ROWS:
            raise Invalid("placement.row", f"{row}: a block of {n} rows does not fit in the array's {BLOCK_ROWS} rows")
    for j, c0 in enumerate(range(0, cols, BLOCK_COLS)):
        n = min(c0 + BLOCK_COLS, cols) - c0
        pc = (column + j * BLOCK_COLS) % ARRAY_COLS
        if pc + n > ARRAY_COLS:
            raise Invalid("placement.column", f"{column}: block of {n} columns at physical column {pc} runs past the array's {ARRAY_COLS} columns")


def check_weights(field, w, cols):
    bad = np.flatnonzero((w > WEIGHT_MAX) | (w < -WEIGHT_MAX))
    if bad.size:
        i = int(bad[0])
        raise Invalid(f"{field}[{i // cols}][{i % cols}]", f"{int(w[i])}: want -{WEIGHT_MAX}..{WEIGHT_MAX}")


class Program:
    def __init__(self, rows, cols, sends, placement, weights, version, prepared):
        self.rows, self.cols, self.sends, self.placement = rows, cols, sends, placement
        self.weights, self.version, self.prepared = weights, version, prepared
        self.lock = threading.Lock()


class Session:
    def __init__(self, name, client):
        self.name, self.client = name, client
        self.programs = {}
        self.lock = threading.Lock()
        self.calls = self.runs = self.images = self.errors = 0


class ChipServicer(chip_pb2_grpc.ChipServicer):
    def __init__(self, device, max_message_bytes, max_programs, max_weights):
        self.device = device
        self.max_message_bytes = max_message_bytes
        self.max_programs, self.max_weights = max_programs, max_weights
        self.sessions = {}
        self.lock = threading.Lock()
        self.opened = 0

    # Errors -----------------------------------------------------------

    def _call(self, context, session_id, fn):
        """Runs fn(session) for a call of session_id, turning refusals into statuses."""
        session = None
        try:
            with self.lock:
                session = self.sessions.get(session_id)
            if session is None:
                raise Status(grpc.StatusCode.NOT_FOUND, "session: unknown (the server restarted?): open a new one")
            session.calls += 1
            return fn(session)
        except Invalid as e:
            self._failed(session, "INVALID_ARGUMENT", str(e))
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(e))
        except Status as e:
            self._failed(session, e.code.name, e.message)
            context.abort(e.code, e.message)

    def _failed(self, session, code, message):
        if session is not None:
            session.errors += 1
            log.info("call failed session=%s client=%r code=%s error=%r", session.name, session.client, code, message)

    # The protocol -------------------------------------------------------

    def Describe(self, request, context):
        # No `features`: this server implements none of the protocol's
        # optional parts (RunStream, RunRequest.sparse_inputs,
        # RunRequest.then), so clients send every run as a Run call of its
        # own with plain inputs.
        d = self.device
        return chip_pb2.DescribeResponse(
            protocol=PROTOCOL, device="ideal", spec_json=d.spec_json(), gain_per_send=d.gain,
            server="python-chip-server",
            limits=chip_pb2.Limits(max_rows=MAX_ROWS, max_cols=MAX_COLS, max_sends=MAX_SENDS, max_batch=MAX_BATCH,
                                   max_message_bytes=self.max_message_bytes, max_programs_per_session=self.max_programs,
                                   max_weights_per_session=self.max_weights))

    def OpenSession(self, request, context):
        if len(request.client.encode()) > 200:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, "client: at most 200 bytes")
        with self.lock:
            self.opened += 1
            session = Session(f"s{self.opened}", request.client)
            sid = secrets.token_hex(16)
            self.sessions[sid] = session
        log.info("session opened session=%s client=%r peer=%s", session.name, session.client, context.peer())
        return chip_pb2.OpenSessionResponse(session=sid)

    def CloseSession(self, request, context):
        with self.lock:
            session = self.sessions.pop(request.session, None)
        if session is not None:
            log.info("session closed session=%s client=%r calls=%d runs=%d images=%d errors=%d",
                     session.name, session.client, session.calls, session.runs, session.images, session.errors)
        return chip_pb2.CloseSessionResponse()

    def Program(self, request, context):
        def program(session):
            r = request
            if r.program == 0:
                raise Invalid("program", "0: want the client's id of this program, 1 or more")
            if not 1 <= r.rows <= MAX_ROWS:
                raise Invalid("rows", f"{r.rows}: want 1..{MAX_ROWS}")
            if not 1 <= r.cols <= MAX_COLS:
                raise Invalid("cols", f"{r.cols}: want 1..{MAX_COLS}")
            if not 1 <= r.sends <= MAX_SENDS:
                raise Invalid("sends", f"{r.sends}: want 1..{MAX_SENDS}")
            n = r.rows * r.cols
            if len(r.weights) != n:
                raise Invalid("weights", f"hold {len(r.weights)} values, rows {r.rows} x cols {r.cols} needs {n}")
            check_placement(r.rows, r.cols, r.placement.row, r.placement.column)
            w = np.frombuffer(r.weights, dtype=np.int8).copy()
            check_weights("weights", w, r.cols)
            with session.lock:
                others = {k: p for k, p in session.programs.items() if k != r.program}
                if len(others) >= self.max_programs:
                    raise Status(grpc.StatusCode.RESOURCE_EXHAUSTED, f"the session holds {self.max_programs} programs, the server's limit")
                if sum(p.rows * p.cols for p in others.values()) + n > self.max_weights:
                    raise Status(grpc.StatusCode.RESOURCE_EXHAUSTED, f"the session would hold more than {self.max_weights} weights")
                prepared = self.device.program(w, r.rows, r.cols, r.sends, (r.placement.row, r.placement.column))
                session.programs[r.program] = Program(r.rows, r.cols, r.sends, (r.placement.row, r.placement.column), w, r.version, prepared)
            return chip_pb2.ProgramResponse()
        return self._call(context, request.session, program)

    def _program(self, session, pid):
        with session.lock:
            p = session.programs.get(pid)
        if p is None:
            raise Status(grpc.StatusCode.NOT_FOUND, f"program {pid}: unknown in this session: program it again")
        return p

    def _checked_update(self, p, u, prefix=""):
        """Validates update u for program p: returns the new weights, or None
        when u's changes were already applied (p is at u.version)."""
        n = p.rows * p.cols
        which = u.WhichOneof("weights")
        if which == "all":
            if len(u.all) != n:
                raise Invalid(prefix + "all", f"hold {len(u.all)} values, the program's {p.rows} x {p.cols} needs {n}")
            w = np.frombuffer(u.all, dtype=np.int8).copy()
            check_weights(prefix + "all", w, p.cols)
            return w
        if which != "changes":
            raise Invalid(prefix + "weights", "missing: set all or changes")
        if u.version == u.base_version:
            raise Invalid(prefix + "version", f"{u.version} equals base_version: an update makes a new version")
        gaps, values = u.changes.gaps, u.changes.values
        if len(gaps) != len(values):
            raise Invalid(prefix + "changes", f"{len(gaps)} gaps and {len(values)} values: want one value per gap")
        if len(gaps) > n:
            raise Invalid(prefix + "changes.gaps", f"{len(gaps)} changes to a matrix of {n} weights")
        idx = np.cumsum(np.asarray(gaps, dtype=np.int64) + 1) - 1
        if len(idx) and idx[-1] >= n:
            i = int(np.argmax(idx >= n))
            raise Invalid(f"{prefix}changes.gaps[{i}]", f"{gaps[i]}: index {int(idx[i])} is beyond the program's {n} weights")
        vals = np.frombuffer(values, dtype=np.int8)
        bad = np.flatnonzero((vals > WEIGHT_MAX) | (vals < -WEIGHT_MAX))
        if bad.size:
            i = int(bad[0])
            raise Invalid(f"{prefix}changes.values[{i}]", f"{int(vals[i])} (weights[{idx[i] // p.cols}][{idx[i] % p.cols}]): want -{WEIGHT_MAX}..{WEIGHT_MAX}")
        if p.version == u.version:
            return None  # a retry of an update already applied
        if p.version != u.base_version:
            raise Status(grpc.StatusCode.FAILED_PRECONDITION,
                         f"program holds version {p.version}, the changes apply to {u.base_version}: program it again")
        w = p.weights.copy()
        w[idx] = vals
        return w

    def _apply(self, p, w, version):
        """Writes new weights onto program p (its lock held)."""
        if w is not None:
            p.prepared = self.device.program(w, p.rows, p.cols, p.sends, p.placement)
            p.weights, p.version = w, version

    def Update(self, request, context):
        def update(session):
            p = self._program(session, request.program)
            with p.lock:
                self._apply(p, self._checked_update(p, request), request.version)
            return chip_pb2.UpdateResponse()
        return self._call(context, request.session, update)

    def Run(self, request, context):
        def run(session):
            r = request
            p = self._program(session, r.program)
            if not 1 <= r.batch <= MAX_BATCH:
                raise Invalid("batch", f"{r.batch}: want 1..{MAX_BATCH}")
            if len(r.inputs) != r.batch * p.rows:
                raise Invalid("inputs", f"hold {len(r.inputs)} values, batch {r.batch} x {p.rows} rows needs {r.batch * p.rows}")
            if r.batch * p.cols > self.max_message_bytes - 64:
                raise Invalid("batch", f"{r.batch}: its outputs exceed the server's message limit of {self.max_message_bytes} bytes")
            x = np.frombuffer(r.inputs, dtype=np.uint8).reshape(r.batch, p.rows)
            bad = np.flatnonzero(x.ravel() > INPUT_MAX)
            if bad.size:
                i = int(bad[0])
                raise Invalid(f"inputs[{i // p.rows}][{i % p.rows}]", f"{int(x.ravel()[i])}: want 0..{INPUT_MAX}")
            if r.HasField("update") and r.version != r.update.version:
                raise Invalid("version", f"{r.version}: a run with an update expects the update's version {r.update.version}")
            with p.lock:
                if r.HasField("update"):
                    # The weights a training step changed, sent with its run.
                    self._apply(p, self._checked_update(p, r.update, "update."), r.update.version)
                if p.version != r.version:
                    raise Status(grpc.StatusCode.FAILED_PRECONDITION,
                                 f"program {r.program} holds version {p.version}, the run expects {r.version}: program it again")
                y = self.device.run(p.prepared, p.sends, x, r.noise_key)
            session.runs += 1
            session.images += r.batch
            return chip_pb2.RunResponse(outputs=y.tobytes())
        return self._call(context, request.session, run)

    def Free(self, request, context):
        def free(session):
            with session.lock:
                session.programs.pop(request.program, None)
            return chip_pb2.FreeResponse()
        return self._call(context, request.session, free)


class TokenInterceptor(grpc.ServerInterceptor):
    """Refuses every call without "authorization: Bearer <token>", comparing in constant time."""

    def __init__(self, token):
        self.digest = hashlib.sha256(token.encode()).digest()

        def refuse(request, context):
            context.abort(grpc.StatusCode.UNAUTHENTICATED, "missing or wrong bearer token")
        self.refuse = grpc.unary_unary_rpc_method_handler(refuse)

    def intercept_service(self, continuation, details):
        ok = False
        for key, value in details.invocation_metadata or ():
            if key == "authorization" and value.startswith("Bearer "):
                ok |= hmac.compare_digest(hashlib.sha256(value[len("Bearer "):].encode()).digest(), self.digest)
        if ok:
            return continuation(details)
        log.warning("call refused: unauthenticated method=%s", details.method)
        return self.refuse


def is_loopback(host):
    if host in ("localhost",):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        try:
            return all(ipaddress.ip_address(a[4][0]).is_loopback for a in socket.getaddrinfo(host, None))
        except OSError:
            return False


def load_token(path):
    if path:
        with open(path) as f:
            token = f.read().strip()
        if not token:
            sys.exit(f"chip_server: token file {path} is empty")
        return token
    return os.environ.get(TOKEN_ENV, "").strip()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--addr", default="127.0.0.1:7071", help="host:port to serve on")
    ap.add_argument("--gain", type=float, default=DEFAULT_GAIN, help="gain per send of the ideal device")
    ap.add_argument("--token-file", default="", help=f"file holding the bearer token (default: ${TOKEN_ENV})")
    ap.add_argument("--tls-cert", default="", help="PEM certificate to serve TLS with")
    ap.add_argument("--tls-key", default="", help="PEM private key of --tls-cert")
    ap.add_argument("--workers", type=int, default=4, help="calls served at once")
    ap.add_argument("--max-message-bytes", type=int, default=64 << 20)
    ap.add_argument("--max-programs", type=int, default=64, help="programs one session may hold")
    ap.add_argument("--max-weights", type=int, default=1 << 24, help="weights one session may hold")
    a = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")

    host = a.addr.rsplit(":", 1)[0]
    token = load_token(a.token_file)
    if not is_loopback(host) and not token:
        sys.exit(f"chip_server: --addr {a.addr} is not a loopback address: give a token (--token-file or ${TOKEN_ENV})")
    if not a.gain > 0:
        sys.exit(f"chip_server: --gain {a.gain}: want a value > 0")

    interceptors = [TokenInterceptor(token)] if token else []
    opts = [("grpc.max_receive_message_length", a.max_message_bytes), ("grpc.max_send_message_length", a.max_message_bytes)]
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=a.workers), interceptors=interceptors, options=opts)
    chip_pb2_grpc.add_ChipServicer_to_server(
        ChipServicer(IdealDevice(a.gain), a.max_message_bytes, a.max_programs, a.max_weights), server)
    if a.tls_cert:
        with open(a.tls_cert, "rb") as c, open(a.tls_key, "rb") as k:
            creds = grpc.ssl_server_credentials([(k.read(), c.read())])
        port = server.add_secure_port(a.addr, creds)
    else:
        port = server.add_insecure_port(a.addr)
    if port == 0:
        sys.exit(f"chip_server: cannot listen on {a.addr}")
    server.start()
    log.info("serving addr=%s device=ideal gain=%r protocol=%s tls=%s token=%s", a.addr, a.gain, PROTOCOL, bool(a.tls_cert), bool(token))

    stop = threading.Event()
    for s in (signal.SIGTERM, signal.SIGINT):
        signal.signal(s, lambda *_: stop.set())
    stop.wait()
    log.info("draining: refusing new calls, finishing those in progress")
    server.stop(grace=30).wait()
    log.info("stopped")


if __name__ == "__main__":
    main()
