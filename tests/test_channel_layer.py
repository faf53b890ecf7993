"""The Redis channel layer, as CI runs it."""

import pytest
from channels.layers import get_channel_layer


@pytest.mark.services
async def test_redis_channel_layer_round_trip():
    layer = get_channel_layer()
    assert type(layer).__name__ == "RedisChannelLayer"
    channel = await layer.new_channel()
    await layer.group_add("shoppers", channel)
    await layer.group_send("shoppers", {"type": "chat.note", "text": "hello"})
    assert (await layer.receive(channel))["text"] == "hello"
    await layer.group_discard("shoppers", channel)
