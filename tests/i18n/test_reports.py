"""Diagnostics findings and lab reports in Persian: their framework sentences come from the
catalogue (the experiments' own claims and evidence stay as the experiment wrote them)."""

from __future__ import annotations

from nablab import lab
from nablab.i18n import M, using
from nablab.lab.experiment import Check, Result
from nablab.lab.report import notebook_html, result_html
from nablab.train.history import Finding, History, history_html


def _finding() -> Finding:
    return Finding(
        "divergence",
        3,
        M(
            "diagnostics.divergence.message",
            "the loss is far above its best: training is diverging",
        ),
        M(
            "diagnostics.divergence.evidence",
            "epoch loss {loss:.4g} vs best {best:.4g} (⁅×{ratio:.1f}⁆)",
            loss=12.5,
            best=0.5,
            ratio=25.0,
        ),
        M(
            "diagnostics.divergence.suggestion",
            "lower the learning rate about 10× (try {lr:g})",
            lr=0.01,
        ),
    )


def test_a_finding_reads_in_english_and_in_persian():
    finding = _finding()
    assert str(finding) == (
        "[divergence] epoch 3: the loss is far above its best: training is diverging\n"
        "  evidence: epoch loss 12.5 vs best 0.5 (×25.0)\n"
        "  suggestion: lower the learning rate about 10× (try 0.01)"
    )
    with using("fa", "fa"):
        text = str(finding)
    assert "واگرایی" in text and "۱۲٫۵" in text and "×25.0" in text  # the formula keeps Latin
    history = History(findings=[finding])
    restored = History.from_state(history.state())
    assert str(restored.findings[0]) == str(finding)  # saved as English text
    with using("fa"):
        assert "یافته‌ها" in history_html(history)


def test_a_lab_report_takes_the_language_in_force():
    spec = lab.EXPERIMENTS["newton"]
    result = Result(
        "newton",
        spec.topic,
        spec.claim,
        spec.defaults(),
        False,
        {"steps": 3},
        checks=[Check("it converges", True, "3 steps"), Check("it is fast", False, "slow")],
    )
    assert "Verdict: holds in part (1 of 2)" in result_html(result)
    with using("fa", "fa"):
        page = notebook_html([result], lab.TOPICS)
        fragment = result_html(result)
    assert 'lang="fa" dir="rtl"' in page and "دفترچهٔ آزمایشگاه" in page
    assert "تا حدی برقرار است" in fragment and "ادعا" in fragment and "it converges" in fragment
    assert result.verdict == "holds in part (1 of 2)"  # the JSON keeps the English verdict
