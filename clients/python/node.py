#!/usr/bin/env python3
"""pairgate reference node (Python), written from docs/protocol.md alone. Ed25519 via PyNaCl.

    node.py pair    --gateway HOST:PORT --name NAME [--platform P] [--tls-ca cert.pem] [--state FILE]
    node.py pair    --invite 'pairgate://pair?...' [--name NAME]   pair by invite: approved at once (§3b)
    node.py connect [--interval SECONDS] [--state FILE]   challenge -> authenticate -> heartbeat + WatchNode
    node.py rotate  [--state FILE]                        new node token (old one retired on first use)
    node.py status  [--state FILE]
    node.py vectors docs/protocol.md                      check this file's signed payloads against the spec

The state file (default $PAIRGATE_NODE_STATE or ~/.pairgate-node/state-py.json, mode 0600) holds the
Ed25519 seed and the node token: both are secrets. Exit codes: 0 ok, 1 failure (including "revoked").
Needs grpcio, protobuf, PyNaCl, and the stubs from `make python-stubs`.
"""
import argparse
import base64
import hashlib
import json
import os
import re
import socket
import ssl
import struct
import sys
import queue
import threading
import urllib.parse

import grpc
import nacl.exceptions
import nacl.signing

from stubs import node_grpc, node_pb

# ---- docs/protocol.md §2: the signed payload --------------------------------------------------------

TAG = b"pairgate-node-auth\x00"
VERSION = 1
PAIR_REQUEST, CLAIM, CONNECT, ROTATE, PAIR_INVITE = 1, 2, 3, 4, 5


def lp(data: bytes) -> bytes:
    """u32be(length) || data."""
    return struct.pack(">I", len(data)) + data


def signed_payload(purpose: int, gateway_id: str, node_id: str, nonce: bytes, body: bytes) -> bytes:
    return (TAG + struct.pack(">HB", VERSION, purpose)
            + lp(gateway_id.encode()) + lp(node_id.encode()) + lp(nonce) + lp(body))


def pair_request_preimage(public_key: bytes, display_name: str, platform: str, version: str,
                          device_family: str, model_identifier: str, caps: list) -> bytes:
    parts = [lp(public_key)] + [lp(s.encode()) for s in (display_name, platform, version, device_family, model_identifier)]
    parts.append(struct.pack(">I", len(caps)))
    parts += [lp(c.encode()) for c in caps]
    return b"".join(parts)


# docs/protocol.md §7: the gateway's proofs, verified with the gateway's pinned public key.
GTAG = b"pairgate-gateway-proof\x00"
CHALLENGE_PROOF = 0x81


def gateway_proof(purpose: int, gateway_id: str, node_id: str, nonce: bytes, body: bytes) -> bytes:
    return (GTAG + struct.pack(">HB", VERSION, purpose)
            + lp(gateway_id.encode()) + lp(node_id.encode()) + lp(nonce) + lp(body))


def challenge_proof_body(expires_at_ms: int, client_nonce: bytes) -> bytes:
    return struct.pack(">Q", expires_at_ms) + lp(client_nonce)


def sha256(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


# ---- docs/protocol.md §3b: pairing by invite -----------------------------------------------------------

INVITE_TAG = b"pairgate-invite-proof\x00"
INVITE_KEY_TAG = b"pairgate-invite-key\x00"
INVITE_PROOF_PURPOSE = 0x41


def invite_key(secret: bytes) -> nacl.signing.SigningKey:
    """The invite key: Ed25519 with seed SHA-256("pairgate-invite-key\\0" || secret)."""
    return nacl.signing.SigningKey(sha256(INVITE_KEY_TAG + secret))


def invite_proof_message(gateway_id: str, node_id: str, nonce: bytes, invite_id: str, pair_request_digest: bytes) -> bytes:
    return (INVITE_TAG + struct.pack(">HB", VERSION, INVITE_PROOF_PURPOSE) + lp(gateway_id.encode()) + lp(node_id.encode())
            + lp(nonce) + lp(lp(invite_id.encode()) + pair_request_digest))


def pair_invite_body(preimage: bytes, invite_id: str, proof: bytes) -> bytes:
    return sha256(preimage + lp(invite_id.encode()) + lp(proof))


def parse_invite_uri(uri: str) -> dict:
    """Parses pairgate://pair?v=1&gateway_id=…&addr=…[&tls_pin=…]&invite_id=…&secret=…[&name=…]."""
    uri = uri.strip()
    prefix = "pairgate://pair?"
    if not uri.startswith(prefix):
        raise NodeError(f"not a pairgate invite URI (expected it to start with {prefix})")
    q = urllib.parse.parse_qs(uri[len(prefix):], keep_blank_values=True)

    def one(name: str, pattern: str, what: str, optional: bool = False):
        values = q.get(name, [])
        if optional and not values:
            return ""
        if len(values) != 1 or not re.fullmatch(pattern, values[0]):
            raise NodeError(f'invite URI: "{name}" must be {what}, exactly once')
        return values[0]

    if one("v", r"[0-9]+", "the format version") != "1":
        raise NodeError("invite URI version is not supported (this node speaks 1); update the node")
    addresses = q.get("addr", [])
    if not addresses:
        raise NodeError('invite URI: "addr" is missing')
    secret_text = one("secret", r"[A-Za-z0-9_-]{43}", "base64url of 32 bytes")
    name = one("name", r".{0,64}", "at most 64 characters", optional=True)
    return {"gateway_id": one("gateway_id", r"[0-9a-f]{64}", "64 lowercase hex characters"), "addresses": addresses,
            "tls_pin": one("tls_pin", r"[0-9a-f]{64}", "64 lowercase hex characters", optional=True),
            "invite_id": one("invite_id", r"[0-9a-f]{16}", "16 lowercase hex characters"),
            "secret": base64.urlsafe_b64decode(secret_text + "="), "name": name}


def _der(data: bytes, at: int):
    """One DER TLV at `at`: (tag, value start, value end)."""
    tag, length = data[at], data[at + 1]
    at += 2
    if length & 0x80:
        n = length & 0x7F
        length = int.from_bytes(data[at:at + n], "big")
        at += n
    return tag, at, at + length


def spki_sha256(cert_der: bytes) -> str:
    """Hex SHA-256 of a certificate's DER SubjectPublicKeyInfo (the pin of docs/protocol.md §5)."""
    _, tbs, _ = _der(cert_der, 0)  # Certificate
    _, at, _ = _der(cert_der, tbs)  # tbsCertificate
    if cert_der[at] == 0xA0:  # [0] version
        at = _der(cert_der, at)[2]
    for _ in range(5):  # serialNumber, signature, issuer, validity, subject
        at = _der(cert_der, at)[2]
    end = _der(cert_der, at)[2]
    return hashlib.sha256(cert_der[at:end]).hexdigest()


def fetch_pinned_certificate(address: str, pin_hex: str) -> bytes:
    """The PEM certificate the gateway presents, only if its key matches the pin (then it is our only root)."""
    host, port = address.rsplit(":", 1)
    host = host.strip("[]")
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE  # one read-only probe: we send nothing and only look at the key
    ctx.set_alpn_protocols(["h2"])
    with socket.create_connection((host, int(port)), timeout=10) as raw, ctx.wrap_socket(raw, server_hostname=host) as tls:
        der = tls.getpeercert(binary_form=True)
    got = spki_sha256(der)
    if got != pin_hex:
        raise NodeError(f"gateway {address} presents TLS key {got}, not the pinned {pin_hex}. Refusing to connect: this may be an impostor.")
    return ssl.DER_cert_to_PEM_cert(der).encode()


def node_id_of(public_key: bytes) -> str:
    return hashlib.sha256(public_key).hexdigest()


# ---- local state --------------------------------------------------------------------------------------

class NodeError(Exception):
    """A failure to report to the user as one line (exit 1)."""


def default_state_path() -> str:
    return os.environ.get("PAIRGATE_NODE_STATE") or os.path.join(os.path.expanduser("~"), ".pairgate-node", "state-py.json")


def load_state(path: str):
    if not os.path.exists(path):
        return None
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def save_state(path: str, state: dict) -> None:
    """Atomic (temp file + rename) and owner-only: the file holds the private seed and the token."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), mode=0o700, exist_ok=True)
    tmp = f"{path}.{os.getpid()}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        json.dump(state, f, indent=2)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


class Node:
    """One node identity talking to one gateway."""

    def __init__(self, state: dict, state_path: str, deadline_s: float = 10.0):
        self.state = state
        self.state_path = state_path
        self.deadline_s = deadline_s
        self.key = nacl.signing.SigningKey(bytes.fromhex(state["seed"]))
        if state.get("tls_pin"):
            # The certificate presented now, accepted only with the pinned key, is the only root;
            # host-name checks stay on (the gateway's addresses are in its SANs).
            creds = grpc.ssl_channel_credentials(root_certificates=fetch_pinned_certificate(state["gateway"], state["tls_pin"]))
            self.channel = grpc.secure_channel(state["gateway"], creds)
        elif state["tls_ca"]:
            with open(state["tls_ca"], "rb") as f:
                creds = grpc.ssl_channel_credentials(root_certificates=f.read())
            # The certificate itself is pinned, so the host name it names does not matter.
            self.channel = grpc.secure_channel(state["gateway"], creds, options=[("grpc.ssl_target_name_override", "localhost")])
        if not state.get("tls_pin") and not state["tls_ca"]:
            self.channel = grpc.insecure_channel(state["gateway"])
        self.stub = node_grpc.NodePairingServiceStub(self.channel)

    @property
    def node_id(self) -> str:
        return self.state["node_id"]

    def sign(self, purpose: int, nonce: bytes, body: bytes) -> bytes:
        payload = signed_payload(purpose, self.state["gateway_id"], self.node_id, nonce, body)
        return self.key.sign(payload).signature

    def nonce(self) -> bytes:
        return self.stub.CreateChallenge(node_pb.CreateChallengeRequest(node_id=self.node_id), timeout=self.deadline_s).nonce

    def pin_gateway(self) -> None:
        """Trust on first use: remember gateway_id at pairing, refuse a gateway that later reports another."""
        info = self.stub.GetGatewayInfo(node_pb.GetGatewayInfoRequest(), timeout=self.deadline_s)
        if info.protocol_version != VERSION:
            raise NodeError(f"gateway speaks protocol version {info.protocol_version}, this node speaks {VERSION}")
        if not self.state["gateway_id"]:
            self.state["gateway_id"] = info.gateway_id
            save_state(self.state_path, self.state)
        elif self.state["gateway_id"] != info.gateway_id:
            raise NodeError(f"gateway identity changed: pinned {self.state['gateway_id']}, gateway now reports "
                            f"{info.gateway_id}. Refusing to continue; delete the state file and pair again if expected.")

    def gateway_key(self) -> nacl.signing.VerifyKey:
        """The gateway's public key, checked against the pinned gateway_id (SHA-256 of the key)."""
        info = self.stub.GetGatewayInfo(node_pb.GetGatewayInfoRequest(), timeout=self.deadline_s)
        if hashlib.sha256(info.public_key).hexdigest() != self.state["gateway_id"]:
            raise NodeError("the gateway's public key does not match the pinned gateway_id; refusing to connect")
        return nacl.signing.VerifyKey(info.public_key)

    def connect(self, on_session):
        """One Connect stream (docs/protocol.md §9): hello -> the gateway's signed challenge (verified
        before anything is signed) -> CONNECT signature and token -> session. Returns (responses, send):
        the remaining response iterator (events and heartbeat answers) and a function to queue a message
        (None ends the stream)."""
        key = self.gateway_key()
        outbox: "queue.Queue" = queue.Queue()

        def requests():
            while True:
                message = outbox.get()
                if message is None:
                    return
                yield message

        responses = self.stub.Connect(requests())
        client_nonce = os.urandom(32)
        outbox.put(node_pb.ConnectRequest(hello=node_pb.ConnectHello(node_id=self.node_id, client_nonce=client_nonce)))
        try:
            first = next(responses)
            if first.WhichOneof("message") != "challenge":
                raise NodeError(f"expected a challenge, got {first.WhichOneof('message')}")
            challenge = first.challenge
            proof = gateway_proof(CHALLENGE_PROOF, self.state["gateway_id"], self.node_id, challenge.nonce,
                                  challenge_proof_body(challenge.expires_at_ms, client_nonce))
            try:
                key.verify(proof, challenge.gateway_signature)
            except nacl.exceptions.BadSignatureError:
                raise NodeError("the challenge is not signed by the pinned gateway; refusing to sign it")
            token = self.state["token"]
            outbox.put(node_pb.ConnectRequest(proof=node_pb.ConnectProof(
                signature=self.sign(CONNECT, challenge.nonce, sha256(token.encode())), token=token)))
            second = next(responses)
            if second.WhichOneof("message") != "session":
                raise NodeError(f"expected a session, got {second.WhichOneof('message')}")
        except BaseException:
            outbox.put(None)
            responses.cancel()
            raise
        on_session(second.session)
        return responses, outbox.put

    def authenticate(self) -> node_pb.AuthenticateResponse:
        nonce = self.nonce()
        sig = self.sign(CONNECT, nonce, sha256(self.state["token"].encode()))
        return self.stub.Authenticate(node_pb.AuthenticateRequest(
            node_id=self.node_id, nonce=nonce, signature=sig, token=self.state["token"]), timeout=self.deadline_s)

    @staticmethod
    def bearer(session_token: str):
        return (("authorization", f"Bearer {session_token}"),)

    def close(self) -> None:
        self.channel.close()


# ---- commands ---------------------------------------------------------------------------------------

def cmd_pair(args) -> None:
    invite = parse_invite_uri(args.invite) if args.invite else None
    if invite is None and not args.gateway:
        raise NodeError("pair needs --gateway HOST:PORT (or --invite URI)")
    name = args.name or (invite["name"] if invite else "")
    if not name:
        raise NodeError("pair needs --name NAME (the invite carries no name)")
    path = os.path.abspath(args.state)
    state = load_state(path)
    if state is None:
        key = nacl.signing.SigningKey.generate()
        public_key = bytes(key.verify_key)
        state = {"version": 1, "seed": bytes(key).hex(), "node_id": node_id_of(public_key), "gateway": args.gateway or "",
                 "gateway_id": "", "tls_ca": os.path.abspath(args.tls_ca) if args.tls_ca else "", "token": ""}
        save_state(path, state)
    if invite is not None:
        if state["gateway_id"] and state["gateway_id"] != invite["gateway_id"]:
            raise NodeError("this node is paired with another gateway; use another --state file")
        # Pin what the invite names before the first contact: gateway id and TLS key.
        state.update(gateway=invite["addresses"][0], gateway_id=invite["gateway_id"], tls_pin=invite["tls_pin"], tls_ca="")
        save_state(path, state)
        pair_by_invite(state, path, invite, name, args)
        return
    node = Node(state, path)
    try:
        node.pin_gateway()
        public_key = bytes(node.key.verify_key)
        fields = dict(display_name=name, platform=args.platform, version=args.app_version,
                      device_family=args.device_family, model_identifier=args.model, caps=list(args.cap))
        nonce = node.nonce()
        body = sha256(pair_request_preimage(public_key, **fields))
        res = node.stub.RequestPairing(node_pb.RequestPairingRequest(
            public_key=public_key, nonce=nonce, signature=node.sign(PAIR_REQUEST, nonce, body), **fields), timeout=node.deadline_s)
        print(f"Node {node.node_id}")
        print(f"Pairing request {res.request_id}{' (repair)' if res.is_repair else ''} sent to gateway {state['gateway_id'][:12]}.", flush=True)
        status = res.status
        if status != node_pb.NODE_PAIRING_STATUS_APPROVED:
            print(f"Waiting for the owner to run: pairgate nodes approve {res.request_id[:8]}", flush=True)
            for update in node.stub.AwaitPairing(node_pb.AwaitPairingRequest(request_id=res.request_id, node_id=node.node_id)):
                status = update.status
                if status != node_pb.NODE_PAIRING_STATUS_PENDING:
                    break
        if status == node_pb.NODE_PAIRING_STATUS_REJECTED:
            raise NodeError("the owner rejected this node")
        if status == node_pb.NODE_PAIRING_STATUS_EXPIRED:
            raise NodeError("the request expired (nobody approved it within 5 minutes); run pair again")
        if status != node_pb.NODE_PAIRING_STATUS_APPROVED:
            raise NodeError("lost the pairing stream; run pair again")
        claim(node)
    finally:
        node.close()


def claim(node: Node) -> None:
    nonce = node.nonce()
    claimed = node.stub.ClaimToken(node_pb.ClaimTokenRequest(
        node_id=node.node_id, nonce=nonce, signature=node.sign(CLAIM, nonce, b"")), timeout=node.deadline_s)
    node.state["token"] = claimed.token
    save_state(node.state_path, node.state)
    print(f'Paired as "{claimed.display_name}". Token stored in {node.state_path}.')


def pair_by_invite(state: dict, path: str, invite: dict, name: str, args) -> None:
    """docs/protocol.md §3b: prove the setup secret with the invite key; the secret itself is never sent."""
    last_error = None
    for address in invite["addresses"]:  # the first address whose gateway answers with the pinned id
        state["gateway"] = address
        try:
            node = Node(state, path)
            node.pin_gateway()
            break
        except grpc.RpcError as err:
            if err.code() != grpc.StatusCode.UNAVAILABLE:
                raise
            last_error = f"{address}: {err.details()}"
        except OSError as err:
            last_error = f"{address}: {err}"
    else:
        raise NodeError(f"no address of the invite answers ({last_error})")
    save_state(path, state)
    try:
        public_key = bytes(node.key.verify_key)
        fields = dict(display_name=name, platform=args.platform, version=args.app_version,
                      device_family=args.device_family, model_identifier=args.model, caps=list(args.cap))
        nonce = node.nonce()
        preimage = pair_request_preimage(public_key, **fields)
        proof = invite_key(invite["secret"]).sign(
            invite_proof_message(state["gateway_id"], node.node_id, nonce, invite["invite_id"], sha256(preimage))).signature
        signature = node.sign(PAIR_INVITE, nonce, pair_invite_body(preimage, invite["invite_id"], proof))
        res = node.stub.RequestPairing(node_pb.RequestPairingRequest(
            public_key=public_key, nonce=nonce, signature=signature, invite_id=invite["invite_id"], invite_proof=proof, **fields),
            timeout=node.deadline_s)
        if res.status != node_pb.NODE_PAIRING_STATUS_APPROVED:
            raise NodeError("the gateway did not approve the invite request")
        print(f"Node {node.node_id}")
        print(f"Approved by invite {invite['invite_id']}{' (repair)' if res.is_repair else ''} at gateway {state['gateway_id'][:12]}.", flush=True)
        claim(node)
    finally:
        node.close()


def paired_node(args) -> Node:
    path = os.path.abspath(args.state)
    state = load_state(path)
    if state is None or not state["token"]:
        raise NodeError(f"not paired yet (no token in {path}); run: node.py pair")
    return Node(state, path)


def cmd_connect(args) -> None:
    node = paired_node(args)
    stop = threading.Event()
    gone = NodeError("this node is no longer paired (revoked by the owner, or re-paired); run node.py pair to pair again")
    try:
        node.pin_gateway()
        first = True
        while True:
            try:
                responses, send = node.connect(lambda s: None)
            except grpc.RpcError as err:
                # A reconnect refused with UNAUTHENTICATED: the node is no longer paired.
                if not first and err.code() == grpc.StatusCode.UNAUTHENTICATED:
                    raise gone
                raise
            if first:
                print(f"Authenticated as node {node.node_id[:12]}.", flush=True)
            beat = threading.Event()

            def heartbeats() -> None:
                while not beat.wait(args.interval) and not stop.is_set():
                    send(node_pb.ConnectRequest(heartbeat=node_pb.ConnectHeartbeat()))

            send(node_pb.ConnectRequest(heartbeat=node_pb.ConnectHeartbeat()))
            threading.Thread(target=heartbeats, daemon=True).start()
            revoked = False
            try:
                for response in responses:
                    kind = response.WhichOneof("message")
                    if kind == "heartbeat" and first:
                        print("Heartbeat ok.", flush=True)
                        first = False
                    elif kind == "event":
                        event = response.event
                        if event.type == node_pb.WATCH_NODE_EVENT_TYPE_RENAMED:
                            print(f'The owner renamed this node to "{event.display_name}".', flush=True)
                        elif event.type == node_pb.WATCH_NODE_EVENT_TYPE_TOKEN_ROTATED:
                            print("The node token was rotated.", flush=True)
                        elif event.type == node_pb.WATCH_NODE_EVENT_TYPE_REVOKED:
                            revoked = True
                            print("The owner revoked this node.", flush=True)
                break
            except grpc.RpcError as err:
                if err.code() != grpc.StatusCode.UNAUTHENTICATED:
                    raise
                if revoked:
                    raise gone
                # Without REVOKED: the session expired (15 min) or the node was re-paired; connecting
                # again tells the two apart.
            finally:
                beat.set()
                send(None)
        print("Disconnected.")
    finally:
        stop.set()
        node.close()


def cmd_rotate(args) -> None:
    node = paired_node(args)
    try:
        node.pin_gateway()
        session = node.authenticate()
        nonce = node.nonce()
        # ROTATE body: SHA-256 of the session token sent as Bearer.
        sig = node.sign(ROTATE, nonce, sha256(session.session_token.encode()))
        res = node.stub.RotateToken(node_pb.RotateTokenRequest(nonce=nonce, signature=sig),
                                    metadata=Node.bearer(session.session_token), timeout=node.deadline_s)
        node.state["token"] = res.token  # store the new token before anything else: its first use retires the old one
        save_state(node.state_path, node.state)
        node.authenticate()
        print("Token rotated; authenticated with the new token.")
    finally:
        node.close()


def cmd_status(args) -> None:
    path = os.path.abspath(args.state)
    state = load_state(path)
    view = {"state": path, "paired": False} if state is None else {
        "state": path, "node_id": state["node_id"], "gateway": state["gateway"], "gateway_id": state["gateway_id"],
        "paired": bool(state["token"])}
    print(json.dumps(view, indent=2))


def cmd_vectors(args) -> None:
    """Recomputes every test vector block of docs/protocol.md §6 and compares byte for byte."""
    with open(args.protocol, encoding="utf-8") as f:
        doc = f.read()

    def value(label: str) -> str:
        m = re.search(rf"^{re.escape(label)}:\s+(\S+)", doc, re.M)
        if not m:
            raise NodeError(f"{args.protocol}: no '{label}:' line")
        return m.group(1)

    key = nacl.signing.SigningKey(bytes.fromhex(value("seed (Ed25519 private seed)")))
    public_key = bytes(key.verify_key)
    if public_key.hex() != value("public_key") or node_id_of(public_key) != value("node_id (text)"):
        raise NodeError("public key or node id differs from the spec")
    gateway_id, node_id, nonce = value("gateway_id (text)"), value("node_id (text)"), bytes.fromhex(value("nonce"))
    preimage = pair_request_preimage(public_key, "Pixel 8", "android", "1.2.3", "phone", "Pixel8,1", ["camera", "location"])
    if preimage.hex() != re.search(r"what is hashed into `body`\):\s+```text\s+(\S+)", doc).group(1):
        raise NodeError("PAIR_REQUEST preimage differs from the spec")
    bodies = {"pair-request": sha256(preimage), "claim": b"", "connect": sha256(value("node token (text)").encode()),
              "rotate": sha256(value("session token (text)").encode())}
    blocks = re.findall(r"(?m)^vector: (\S+)\npurpose: (\d+)\nbody:[ ]?(\S*)\nmessage: (\S+)\nsignature: (\S+)", doc)
    if len(blocks) != 4:
        raise NodeError(f"expected 4 vector blocks in {args.protocol}, found {len(blocks)}")
    for name, purpose, body_hex, message_hex, signature_hex in blocks:
        message = signed_payload(int(purpose), gateway_id, node_id, nonce, bodies[name])
        if bodies[name].hex() != body_hex or message.hex() != message_hex or key.sign(message).signature.hex() != signature_hex:
            raise NodeError(f"vector {name} differs from the spec")
        print(f"vector {name}: ok")
    check_invite_vector(doc, key, gateway_id, node_id, nonce, preimage)


def check_invite_vector(doc: str, key, gateway_id: str, node_id: str, nonce: bytes, preimage: bytes) -> None:
    """Recomputes the invite vector block of docs/protocol.md §3b."""
    m = re.search(r"(?m)^invite-vector: invite\n((?:[a-z_ ]+: \S+\n)+)", doc)
    if not m:
        raise NodeError("no invite-vector block in the spec")
    v = dict(line.split(": ", 1) for line in m.group(1).strip().split("\n"))
    invite = parse_invite_uri(v["uri"])
    if (invite["gateway_id"], invite["addresses"], invite["tls_pin"], invite["invite_id"], invite["name"]) != (
            gateway_id, ["192.168.1.10:7421"], "ee" * 32, "0011223344556677", "Pixel 8") or invite["secret"] != bytes(range(0x40, 0x60)):
        raise NodeError("invite URI differs from the spec")
    ikey = invite_key(invite["secret"])
    proof_message = invite_proof_message(gateway_id, node_id, nonce, invite["invite_id"], sha256(preimage))
    proof = ikey.sign(proof_message).signature
    body = pair_invite_body(preimage, invite["invite_id"], proof)
    message = signed_payload(PAIR_INVITE, gateway_id, node_id, nonce, body)
    got = {"invite key seed": sha256(INVITE_KEY_TAG + invite["secret"]).hex(), "invite public key": bytes(ikey.verify_key).hex(),
           "proof message": proof_message.hex(), "invite_proof": proof.hex(), "purpose": str(PAIR_INVITE), "body": body.hex(),
           "message": message.hex(), "signature": key.sign(message).signature.hex()}
    for k, want in got.items():
        if v.get(k) != want:
            raise NodeError(f"invite vector: {k} differs from the spec")
    print("vector invite: ok")


def main() -> int:
    parser = argparse.ArgumentParser(description="pairgate reference node (Python)")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("pair", help="create a key, ask the owner to approve, claim the token")
    p.add_argument("--gateway", help="the gateway's node listener, host:port (not needed with --invite)")
    p.add_argument("--invite", help="pair by invite: the pairgate://pair?... URI from `pairgate nodes invite`")
    p.add_argument("--name", help="name shown to the owner (with --invite, default: the invite's name)")
    p.add_argument("--platform", default="android")
    p.add_argument("--device-family", default="phone")
    p.add_argument("--model", default="")
    p.add_argument("--app-version", default="0.1.0")
    p.add_argument("--cap", action="append", default=[], help="a capability (repeatable)")
    p.add_argument("--tls-ca", help="trust this PEM certificate (the gateway's node-tls/cert.pem) and use TLS")
    p.set_defaults(fn=cmd_pair)
    p = sub.add_parser("connect", help="one Connect stream: authenticate, heartbeat and watch until revoked")
    p.add_argument("--interval", type=float, default=30.0, help="heartbeat interval, seconds")
    p.set_defaults(fn=cmd_connect)
    sub.add_parser("rotate", help="replace the node token").set_defaults(fn=cmd_rotate)
    sub.add_parser("status", help="show the local state (never the token or key)").set_defaults(fn=cmd_status)
    p = sub.add_parser("vectors", help="check the signed-payload builder against docs/protocol.md")
    p.add_argument("protocol", help="path of docs/protocol.md")
    p.set_defaults(fn=cmd_vectors)
    for name in ("pair", "connect", "rotate", "status"):
        sub.choices[name].add_argument("--state", default=default_state_path(), help="state file (mode 0600)")
    args = parser.parse_args()
    try:
        args.fn(args)
    except NodeError as err:
        print(f"node: {err}", file=sys.stderr)
        return 1
    except grpc.RpcError as err:
        print(f"node: {err.code().name}: {err.details()}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
