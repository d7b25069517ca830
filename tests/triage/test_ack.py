"""Acknowledgement-only messages (谢谢, 好的, 收到): the ticket system records them and changes nothing."""

from __future__ import annotations

import pytest

from triage.ack import is_acknowledgement


class TestAcknowledgement:
    @pytest.mark.parametrize(
        "text",
        [
            "谢谢",
            "好的 谢谢！",
            "收到了",
            "嗯嗯",
            "谢谢谢谢",
            "好的好的",
            "OK",
            "thanks!",
            "謝謝",
            "👍",
            "好的，收到。",
        ],
    )
    def test_thanks_and_okay_are_acknowledgements(self, text):
        assert is_acknowledgement(text)

    @pytest.mark.parametrize(
        "text",
        [
            "好的 但是还没到账",
            "谢谢 退款什么时候到",
            "还没收到",
            "不好",
            "不可以",
            "嗯 不行",
            "好的 订单2024112233",
            "谢谢你们的垃圾服务",
            "？？？",
            "",
            "   ",
        ],
    )
    def test_anything_asking_or_saying_more_is_not(self, text):
        assert not is_acknowledgement(text)

    def test_long_message_is_not(self):
        assert not is_acknowledgement("谢谢 " * 10)

    @pytest.mark.parametrize("text", ["😡😡", "👎", "[抓狂]"])
    def test_angry_emoji_is_not_an_acknowledgement(self, text):
        assert not is_acknowledgement(text)
