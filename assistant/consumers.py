"""The chat WebSocket (CONTRACTS §4): validates frames and hands them to the services."""

import logging
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from channels.db import DatabaseSyncToAsync, database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.conf import settings

from . import ratelimit, services
from .messages import (
    ChatMessage,
    FeedbackMessage,
    ProtocolError,
    ResetMessage,
    decode_client_json,
    error,
    parse_client_message,
    server_error,
)

logger = logging.getLogger(__name__)

# Refused frames (bad ones, and those over the AISLE_CHAT_RATE_* limit) add up; a client
# with this many is disconnected (close code 4008, policy).
MAX_PROTOCOL_ERRORS = 20
POLICY_VIOLATION = 4008

TURNS = ThreadPoolExecutor(max_workers=settings.AISLE_TURN_THREADS, thread_name_prefix="chat-turn")
"""Where chat turns run. Not Channels' one shared thread: a turn is mostly parsing, encoding and
searching (numpy, faiss and torch release the GIL), so several connections' turns proceed at
once. One connection's frames are still handled one after another: the consumer awaits each."""
chat_turn = DatabaseSyncToAsync(services.chat_turn, thread_sensitive=False, executor=TURNS)


class ChatConsumer(AsyncJsonWebsocketConsumer):
    # Bound to no channel layer: the chat uses no groups, so a socket never waits on Redis (docker/README.md).
    channel_layer_alias = None

    async def connect(self) -> None:
        self.session_key = await self._session_key()
        self.protocol_errors = 0
        client = self.scope.get("client") or (None, None)
        self.address = client[0]
        await self.accept()
        messages = await database_sync_to_async(services.history)(self.session_key)
        if messages:
            await self.send_json({"type": "history", "messages": messages})

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        if not ratelimit.allowed(self.session_key, self.address):
            await self._refuse("rate_limited", "You are sending messages too fast; please slow down.")
        elif text_data is None:
            await self._refuse("invalid_message", "Send JSON text frames, not binary.")
        else:
            try:
                content = decode_client_json(text_data)
            except ProtocolError as problem:
                await self._refuse(problem.code, problem.message)
                return
            await self.receive_json(content)

    async def receive_json(self, content: Any, **kwargs: Any) -> None:
        try:
            message = parse_client_message(content)
        except ProtocolError as problem:
            await self._refuse(problem.code, problem.message)
            return
        try:
            await getattr(self, f"_handle_{message['type']}")(message)
        except Exception:
            # The shopper gets an answer and the socket stays open; the log has the cause.
            logger.exception("chat turn failed for session %s", self.session_key[:8])
            await self.send_json(server_error())

    async def _handle_message(self, message: ChatMessage) -> None:
        reply = await chat_turn(self.session_key, message["text"])
        await self.send_json(reply)

    async def _handle_feedback(self, message: FeedbackMessage) -> None:
        try:
            standing = await database_sync_to_async(services.shopper_feedback)(
                self.session_key, message["sku"], message["action"]
            )
        except services.UnknownProduct as problem:
            await self._refuse("unknown_sku", str(problem))
            return
        except ProtocolError as problem:  # a product this chat never showed
            await self._refuse(problem.code, problem.message)
            return
        await self.send_json({"type": "ack", "sku": message["sku"], "action": message["action"], **standing})

    async def _handle_reset(self, message: ResetMessage) -> None:
        await self.send_json(await database_sync_to_async(services.reset)(self.session_key))

    async def _refuse(self, code: str, message: str) -> None:
        self.protocol_errors += 1
        await self.send_json(error(code, message))
        if self.protocol_errors >= MAX_PROTOCOL_ERRORS:
            await self.close(code=POLICY_VIOLATION)

    async def _session_key(self) -> str:
        """The Django session's key; a new session if the cookie names none that exists."""
        session = self.scope["session"]
        if not session.session_key or not await database_sync_to_async(session.exists)(session.session_key):
            await database_sync_to_async(session.create)()
        return session.session_key
