"""Fingerprints written before a config field existed still match runs that keep its old value."""

import pytest

from dynmask_viz.experiments.fingerprint import RunMismatchError, _finish, check_fingerprint


def _fp(**fields):
    return _finish({"condition": "dynamic", "optim.batch_size": 4, **fields})


def test_a_field_added_since_at_its_old_value_is_no_mismatch():
    stored = _fp()  # written before masking.corruption_per existed
    check_fingerprint(stored, _fp(**{"masking.corruption_per": "token"}), what="checkpoint")


def test_a_field_added_since_at_another_value_is_refused_by_name():
    with pytest.raises(RunMismatchError, match="masking.corruption_per: stored '\\(absent\\)', now 'unit'"):
        check_fingerprint(_fp(), _fp(**{"masking.corruption_per": "unit"}), what="checkpoint")


def test_other_differences_are_still_refused_next_to_an_added_field():
    current = _fp(**{"masking.corruption_per": "token"})
    current = _finish({**current["fields"], "optim.batch_size": 8})
    with pytest.raises(RunMismatchError, match="optim.batch_size: stored 4, now 8") as info:
        check_fingerprint(_fp(), current, what="checkpoint")
    assert "corruption_per" not in str(info.value)


def test_an_unknown_new_field_is_refused():
    with pytest.raises(RunMismatchError, match="model.new_knob"):
        check_fingerprint(_fp(), _fp(**{"model.new_knob": 1}), what="checkpoint")
