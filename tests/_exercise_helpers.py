"""Shared by the exercise-check tests: answers a student might type, none of them right."""

from hypothesis import strategies as st

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
