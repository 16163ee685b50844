"""Shared by the exercise-check tests: answers a student might type, none of them right, and
the two assertions every chapter's checks must meet."""

from hypothesis import strategies as st

from dynmask_viz.teaching import CheckResult

# Anything a notebook cell can hold: the checks must answer every one with a CheckResult.
JUNK_ANSWERS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=True),
    st.text(max_size=5),
    st.lists(st.one_of(st.integers(-5, 20), st.floats(), st.text(max_size=2), st.booleans()), max_size=10),
    st.dictionaries(st.text(max_size=2), st.integers(), max_size=2),
)


def assert_right_passes_and_placeholders_do_not(check, answer, kwargs, placeholders=(None, ...)):
    """The reference ``answer`` passes; each placeholder gets "No answer yet", not a verdict."""
    result = check(answer, **kwargs)
    assert isinstance(result, CheckResult) and result, str(result)
    for placeholder in placeholders:
        result = check(placeholder, **kwargs)
        assert not result and "No answer yet" in result.message


def assert_junk_rejected(reference, answer) -> None:
    """Every check of ``reference`` answers ``answer`` with a failing CheckResult, never raising.

    ``reference``: ``(check, right answer, kwargs)`` triples; a junk answer equal to a check's
    right answer (a list of ints can be) is skipped for that check.
    """
    for check, right, kwargs in reference:
        if isinstance(right, list) and answer == right:
            continue
        result = check(answer, **kwargs)
        assert isinstance(result, CheckResult) and str(result) and not result
