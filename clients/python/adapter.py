#!/usr/bin/env python3
"""pairgate reference chat adapter (Python). Read this next to docs/adapters.md.

A real adapter sits between a chat network (Telegram, Signal, ...) and the assistant. This one fakes the
chat network with stdin/stdout so it can be run and tested anywhere:

  * every stdin line "<sender_id> <text>" is one inbound direct message. The adapter asks pairgate
    (DmAccessService.CheckInbound) and then does exactly what the answer says:
        ALLOW              -> hand the message to the assistant   (printed as: ALLOW <sender> <text>)
        PAIRING_REQUIRED   -> send reply_text if non-empty         (printed as: SEND <sender> <json text>)
        DENY / anything else, or any error -> drop it (fail closed) (printed as: DROP <sender> <reason>)
  * a background thread keeps one SubscribeNotifications stream open for the channel account, "sends"
    each notification (printed as: DELIVER <sender> <json text>), then acknowledges it (ACK <id>). When the
    stream breaks (daemon restart) it reconnects with capped exponential backoff and jitter; everything
    not yet acknowledged is redelivered, so delivery is at-least-once.

Diagnostics go to stderr. Usage:

    python3 clients/python/adapter.py --channel telegram [--account default] [--socket <home>/adapter.sock]

Needs grpcio and protobuf, and the stubs from `make python-stubs`.
"""
import argparse
import json
import os
import random
import sys
import threading
import time
from collections import OrderedDict

import grpc

from stubs import access_grpc, access_pb

# The unary deadline: CheckInbound answers in well under a millisecond; 5 s means "something is wrong".
DEFAULT_DEADLINE_S = 5.0
_PRINT_LOCK = threading.Lock()


def out(*parts: str) -> None:
    """One line on stdout (what the adapter would do), never interleaved between threads."""
    with _PRINT_LOCK:
        print(" ".join(parts), flush=True)


def log(message: str) -> None:
    with _PRINT_LOCK:
        print(f"adapter: {message}", file=sys.stderr, flush=True)


def default_socket() -> str:
    """$PAIRGATE_ADAPTER_SOCKET, else <$PAIRGATE_HOME or ~/.pairgate>/adapter.sock."""
    if os.environ.get("PAIRGATE_ADAPTER_SOCKET"):
        return os.environ["PAIRGATE_ADAPTER_SOCKET"]
    home = os.environ.get("PAIRGATE_HOME") or os.path.join(os.path.expanduser("~"), ".pairgate")
    return os.path.join(home, "adapter.sock")


class Adapter:
    def __init__(self, socket_path: str, channel: str, account: str, deadline_s: float, max_backoff_s: float):
        # gRPC's unix socket address: "unix:" + absolute path ("unix:///abs/path" works too).
        self.channel_name = channel
        self.account = account
        self.deadline_s = deadline_s
        self.max_backoff_s = max_backoff_s
        self.grpc_channel = grpc.insecure_channel(f"unix:{os.path.abspath(socket_path)}")
        self.stub = access_grpc.DmAccessServiceStub(self.grpc_channel)
        self.stopping = threading.Event()
        self._stream = None
        # Notification ids already delivered by this process: a redelivery after a lost ack is not sent twice.
        self._delivered: "OrderedDict[str, None]" = OrderedDict()

    # ---- inbound messages -------------------------------------------------------------------------

    def on_message(self, sender_id: str, text: str) -> None:
        request = access_pb.CheckInboundRequest(
            channel=self.channel_name,
            account_id=self.account,
            sender_id=sender_id,
            sender_meta={"username": sender_id},
            sent_at_ms=int(time.time() * 1000),  # the chat network's timestamp in a real adapter
        )
        try:
            # No wait_for_ready: if the daemon is down we want UNAVAILABLE now, not a queued call.
            res = self.stub.CheckInbound(request, timeout=self.deadline_s)
        except grpc.RpcError as err:
            # Fail closed: without a verdict the message is NOT processed. The sender may retry.
            out("DROP", sender_id, f"pairgate unavailable ({err.code().name}: {err.details()})")
            return
        if res.decision == access_pb.DECISION_ALLOW:
            out("ALLOW", res.sender_id, text)
        elif res.decision == access_pb.DECISION_PAIRING_REQUIRED:
            if res.reply_text:
                out("SEND", res.sender_id, json.dumps(res.reply_text, ensure_ascii=False))
            else:
                out("DROP", res.sender_id, f"pairing required, no reply ({res.reason})")
        else:
            out("DROP", res.sender_id, res.reason or "denied")

    # ---- notifications ----------------------------------------------------------------------------

    def notification_loop(self) -> None:
        backoff = 0.5
        while not self.stopping.is_set():
            opened = time.monotonic()
            try:
                self._stream = self.stub.SubscribeNotifications(
                    access_pb.SubscribeNotificationsRequest(channel=self.channel_name, account_id=self.account)
                )
                log(f"subscribed to notifications for {self.channel_name}/{self.account or 'default'}")
                for msg in self._stream:
                    self.deliver(msg.notification)
                    backoff = 0.5
                if self.stopping.is_set():
                    return
                log("notification stream ended by the daemon")
            except grpc.RpcError as err:
                if self.stopping.is_set():
                    return
                code = err.code()
                if code in (grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.PERMISSION_DENIED, grpc.StatusCode.UNIMPLEMENTED):
                    # A configuration error: retrying cannot help. A real adapter alerts its operator.
                    log(f"notification stream refused ({code.name}: {err.details()}); not retrying")
                    return
                log(f"notification stream broke ({code.name}: {err.details()})")
            # A stream that stayed up a while was healthy: start the backoff over.
            if time.monotonic() - opened > 10:
                backoff = 0.5
            delay = random.uniform(backoff / 2, backoff)  # jitter so many adapters do not reconnect in lockstep
            log(f"reconnecting in {delay:.1f}s")
            if self.stopping.wait(delay):
                return
            backoff = min(backoff * 2, self.max_backoff_s)

    def deliver(self, n) -> None:
        if n.notification_id not in self._delivered:
            # A real adapter sends n.text to n.sender_id on the chat network here, and only acks on success.
            out("DELIVER", n.sender_id, json.dumps(n.text, ensure_ascii=False))
            self._delivered[n.notification_id] = None
            while len(self._delivered) > 10_000:
                self._delivered.popitem(last=False)
        try:
            self.stub.AckNotification(access_pb.AckNotificationRequest(notification_id=n.notification_id), timeout=self.deadline_s)
            out("ACK", n.notification_id)
        except grpc.RpcError as err:
            # Not acknowledged: the daemon redelivers it on the next subscription (we will not send it twice).
            log(f"ack of {n.notification_id} failed ({err.code().name}); it will be redelivered")

    def stop(self) -> None:
        self.stopping.set()
        if self._stream is not None:
            self._stream.cancel()
        self.grpc_channel.close()


def main() -> int:
    parser = argparse.ArgumentParser(description="pairgate reference chat adapter (stdin = inbound DMs)")
    parser.add_argument("--channel", required=True, help="channel name, e.g. telegram")
    parser.add_argument("--account", default="", help="channel account id (default: default)")
    parser.add_argument("--socket", default=default_socket(), help="the daemon's adapter socket (default: <home>/adapter.sock)")
    parser.add_argument("--deadline", type=float, default=DEFAULT_DEADLINE_S, help="unary call deadline in seconds")
    parser.add_argument("--max-backoff", type=float, default=30.0, help="longest wait between stream reconnects, seconds")
    args = parser.parse_args()

    adapter = Adapter(args.socket, args.channel, args.account, args.deadline, args.max_backoff)
    notifier = threading.Thread(target=adapter.notification_loop, name="notifications", daemon=True)
    notifier.start()
    try:
        for line in sys.stdin:
            line = line.rstrip("\n")
            if not line.strip():
                continue
            sender_id, _, text = line.partition(" ")
            adapter.on_message(sender_id, text)
    except KeyboardInterrupt:
        pass
    adapter.stop()
    notifier.join(timeout=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
