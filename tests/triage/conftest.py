"""Shared data and session-scoped models for the triage engine tests.

The tiny data set below is written for these tests: three intents (refund, invoice, logistics),
two FAQs (refund_timeline, invoice_how), with general questions and the customer's own cases
sharing words, as the training data's writing guide asks. A model trained on it takes about a
second, so it is trained once per session.
"""

from __future__ import annotations

from pathlib import Path

import pytest

import triage.artifact
from triage import Example, Faq, TriageModel, load_model, save_model
from triage.train import TrainReport, train

REFUND_TIMELINE = (
    "退款多久能到账",
    "退款一般几天到账啊",
    "请问退款要多长时间才能到账",
    "退款到账需要几个工作日",
    "退了款钱多久回到支付宝",
    "微信付的款 退款多久退回来",
    "申请退款后大概多久能收到钱",
    "退款到银行卡要几天",
    "退款审核通过以后多久到账",
    "钱退回原账户一般要多久",
    "退款多长时间能退到信用卡上",
    "花呗付款的退款几天能到",
)
INVOICE_HOW = (
    "怎么开发票",
    "发票在哪里申请",
    "请问怎么开电子发票",
    "下单以后还能补开发票吗",
    "公司报销要发票 怎么开",
    "能开增值税专用发票吗 怎么申请",
    "发票抬头在哪里填写",
    "开发票需要提供什么信息",
    "电子发票在哪里下载",
    "可以开纸质发票吗",
    "个人能开发票吗 在哪操作",
    "想开票 找不到入口",
)
REFUND_OWN_CASE = (
    "我的退款5天了还没到账 订单2024112233",
    "退款显示成功了但是钱没收到 订单尾号8832",
    "申请退款被拒绝了 为什么 订单9988",
    "我退的货你们签收三天了 退款还没给我",
    "退款金额不对 少退了50块",
    "帮我查一下退款进度 单号2024030366",
)
INVOICE_OWN_CASE = (
    "我申请的发票一直没收到 订单尾号3321",
    "发票抬头开错了 帮我改一下 订单2024112299",
    "上周申请的电子发票还没发到邮箱 a.b@qq.com",
    "我的发票金额和实付不一样 订单7766",
    "发票税号填错了 麻烦帮我重开",
    "开的发票上公司名称少了一个字",
)
LOGISTICS = (
    "快递到哪了 三天没动了",
    "我的包裹显示已签收但是我没收到",
    "物流一直不更新 单号SF1234567890123",
    "快递员电话打不通 13812345678",
    "能不能催一下发货 订单2024110011",
    "包裹被退回去了 怎么回事",
    "顺丰什么时候派送",
    "快递放驿站了吗 我没收到短信",
    "物流显示异常 运单号YT9876543210",
    "东西送错地址了",
    "快递盒子破了 里面东西少了",
    "为什么还没发货 都一个星期了",
)

TINY_FAQS = (
    Faq("refund_timeline", "refund", "退款多久能到账？", "退款审核通过后 1-3 个工作日原路退回。"),
    Faq("invoice_how", "invoice", "怎么开发票？", "在订单详情页点击「申请开票」，填写抬头和税号即可。"),
)

# Messages the tiny model has not seen, used to compare decisions (reload, threads, backends).
PROBES = (
    "退款多久能到账？",
    "請問發票怎麼開",
    "我的退款还没到账 订单2024119876",
    "快递三天没更新了 单号SF9988776655",
    "ＡＢＣ 退款 😡",
    "hello, where is my parcel?",
    "？？？",
    "发票开错了 帮我重开 尾号1234",
)


def _rows() -> list[dict[str, str | None]]:
    groups: tuple[tuple[tuple[str, ...], str, str | None], ...] = (
        (REFUND_TIMELINE, "refund", "refund_timeline"),
        (INVOICE_HOW, "invoice", "invoice_how"),
        (REFUND_OWN_CASE, "refund", None),
        (INVOICE_OWN_CASE, "invoice", None),
        (LOGISTICS, "logistics", None),
    )
    return [{"text": text, "intent": intent, "faq": faq} for texts, intent, faq in groups for text in texts]


def _examples() -> list[Example]:
    rows = enumerate(_rows(), start=1)
    return [Example(str(r["text"]), str(r["intent"]), r["faq"], f"tiny:{n}") for n, r in rows]


@pytest.fixture(scope="session")
def tiny_rows() -> tuple[dict[str, str | None], ...]:
    """The tiny data set as rows of a JSONL file (``text``, ``intent``, ``faq``). Do not modify."""
    return tuple(_rows())


@pytest.fixture(scope="session")
def tiny_examples() -> tuple[Example, ...]:
    return tuple(_examples())


@pytest.fixture(scope="session")
def tiny_faqs() -> tuple[Faq, ...]:
    return TINY_FAQS


@pytest.fixture(scope="session")
def probes() -> tuple[str, ...]:
    """Messages the tiny model was not trained on."""
    return PROBES


@pytest.fixture(scope="session")
def _tiny_saved(tmp_path_factory: pytest.TempPathFactory) -> tuple[TriageModel, TrainReport, Path]:
    """Trained and saved once. Saving sets the model's version, so it happens before any test sees it."""
    model, report = train(_examples(), faqs=TINY_FAQS)
    folder = save_model(model, tmp_path_factory.mktemp("tiny_model"))
    return model, report, folder


@pytest.fixture(scope="session")
def tiny_trained(_tiny_saved: tuple[TriageModel, TrainReport, Path]) -> tuple[TriageModel, TrainReport]:
    return _tiny_saved[0], _tiny_saved[1]


@pytest.fixture(scope="session")
def tiny_model(_tiny_saved: tuple[TriageModel, TrainReport, Path]) -> TriageModel:
    return _tiny_saved[0]


@pytest.fixture(scope="session")
def tiny_model_dir(_tiny_saved: tuple[TriageModel, TrainReport, Path]) -> Path:
    """Where the tiny model is saved; tests that damage files work on a copy of it."""
    return _tiny_saved[2]


@pytest.fixture(scope="session")
def default_model() -> TriageModel:
    """The shipped model at models/default; its tests skip, saying why, when the folder holds no model."""
    folder = triage.artifact.DEFAULT_MODEL_DIR
    if not (folder / triage.artifact.MANIFEST).is_file():
        pytest.skip(f"no shipped model at {folder} yet (train it with `make model`)")
    return load_model()
