"""One intra-op thread for small CPU work: the user's setting always comes back, masks never change."""

import threading

import pytest
import torch
from _masking_helpers import VOCAB, make_batch

import dynmask_viz.masking.core as core
from dynmask_viz._threads import SMALL_CPU_NUMEL, one_thread, one_thread_for_small_input, small_cpu_work
from dynmask_viz.masking import MaskingConfig, mask_batch


@pytest.fixture(autouse=True)
def _keep_the_suites_setting():
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


@pytest.fixture(params=[1, 2, 3], ids=lambda n: f"user_threads={n}")
def user_threads(request):
    """The user's thread count for the test (3 oversubscribes a 2-core CI machine, on purpose)."""
    torch.set_num_threads(request.param)
    return request.param


def test_block_runs_on_one_thread_and_restores(user_threads):
    with one_thread():
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == user_threads


def test_restored_after_an_exception(user_threads):
    with pytest.raises(KeyError), one_thread():
        raise KeyError("boom")
    assert torch.get_num_threads() == user_threads


def test_nested_blocks_restore_only_at_the_outermost(user_threads):
    with one_thread():
        with one_thread():
            assert torch.get_num_threads() == 1
        assert torch.get_num_threads() == 1  # the inner exit did not restore early
        with pytest.raises(ValueError), one_thread():
            raise ValueError
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == user_threads


def test_decorator_is_reentrant_in_recursion(user_threads):
    seen = []

    @one_thread()
    def down(n):
        seen.append(torch.get_num_threads())
        if n:
            down(n - 1)
        seen.append(torch.get_num_threads())

    down(3)
    assert seen == [1] * 8
    assert torch.get_num_threads() == user_threads


def test_a_count_set_inside_the_block_is_kept(user_threads):
    with one_thread():
        torch.set_num_threads(4)
    assert torch.get_num_threads() == 4


def test_disabled_block_changes_nothing(user_threads):
    with one_thread(enabled=False):
        assert torch.get_num_threads() == user_threads
    assert torch.get_num_threads() == user_threads


def test_each_python_thread_restores_its_own_setting():
    """Blocks of two Python threads interleaved: each ends with the count it started with.

    (The other thread runs a torch op first: a thread whose first op falls inside another
    thread's block starts with one thread, the caveat in dynmask_viz._threads.)
    """
    torch.set_num_threads(2)
    ready, go, entered, release = (threading.Event() for _ in range(4))
    after = {}

    def other():
        after["other_before"] = torch.get_num_threads()
        ready.set()
        go.wait(5)
        with one_thread():
            entered.set()
            release.wait(5)
        after["other"] = torch.get_num_threads()

    worker = threading.Thread(target=other)
    worker.start()
    ready.wait(5)
    with one_thread():
        go.set()
        entered.wait(5)
    after["main"] = torch.get_num_threads()  # main's block ended while the other's still runs
    release.set()
    worker.join(5)
    assert after == {"other_before": 2, "main": 2, "other": 2}


@pytest.mark.parametrize(
    ("work", "single"),
    [
        ((torch.zeros(64, 512),), True),
        ((SMALL_CPU_NUMEL - 1,), True),
        ((SMALL_CPU_NUMEL,), False),  # large enough for a second thread to pay
        ((torch.zeros(8), SMALL_CPU_NUMEL), False),  # the largest tensor decides
        ((torch.zeros(8, device="meta"),), False),  # not CPU work: the CPU only launches kernels
    ],
)
def test_small_cpu_work_decides_by_device_and_size(work, single):
    torch.set_num_threads(2)
    with small_cpu_work(*work):
        assert (torch.get_num_threads() == 1) == single
    assert torch.get_num_threads() == 2


def test_small_cpu_work_refuses_other_things():
    with pytest.raises(TypeError, match="tensors or element counts"):
        small_cpu_work([1, 2, 3])


def test_decorator_decides_on_the_first_argument():
    torch.set_num_threads(2)
    threads = one_thread_for_small_input(lambda x, y=None: torch.get_num_threads())
    assert threads(torch.zeros(4)) == 1
    assert threads(x=torch.zeros(4)) == 1
    assert threads(torch.zeros(SMALL_CPU_NUMEL, dtype=torch.bool)) == 2
    assert threads([1, 2]) == 2  # not a tensor: the function's own checks handle it
    assert torch.get_num_threads() == 2


def test_mask_batch_runs_on_one_thread(monkeypatch):
    """The engine's ops (here: selection) run on one thread; the user's count comes back."""
    torch.set_num_threads(2)
    seen = []
    original = core.select

    def spy(*args, **kwargs):
        seen.append(torch.get_num_threads())
        return original(*args, **kwargs)

    monkeypatch.setattr(core, "select", spy)
    ids, attn = make_batch([20, 16])
    mask_batch(ids, VOCAB, attention_mask=attn)
    assert seen == [1]
    assert torch.get_num_threads() == 2


def _word_ids(ids: torch.Tensor, attn: torch.Tensor) -> torch.Tensor:
    """Words of 1-3 pieces on every real token (vectorized: the batch is 64 x 512)."""
    starts = torch.rand(ids.shape, generator=torch.Generator().manual_seed(1)) < 0.5
    starts[:, 0] = True
    return torch.where(attn.bool(), starts.long().cumsum(1) - 1, -1)


@pytest.mark.parametrize(
    "config",
    [
        MaskingConfig(),
        MaskingConfig.from_preset("bert"),
        MaskingConfig(unit="word"),
        MaskingConfig(unit="span"),
        MaskingConfig(mlm_probability=0.4, mask_replace_prob=0.5, random_replace_prob=0.3),
    ],
    ids=["roberta", "bert-exact", "word", "span", "high-rate"],
)
def test_masks_are_bit_identical_with_and_without_one_thread(config):
    """On 64 x 512 (every op splits over the threads without the block) and with left padding."""
    torch.set_num_threads(2)
    lengths = [512 - (7 * row) % 300 for row in range(64)]
    ids, attn = make_batch(lengths, 512, seed=3, left=True)
    kwargs = dict(seed=5, mask_epoch=torch.arange(64) % 4, attention_mask=attn, word_ids=_word_ids(ids, attn))
    ours = mask_batch(ids, VOCAB, config, **kwargs)
    split = mask_batch.__wrapped__(ids, VOCAB, config, **kwargs)  # the user's 2 threads
    for name in ("input_ids", "labels", "masked", "replaced_by_mask", "replaced_by_random", "example_ids"):
        assert torch.equal(getattr(ours, name), getattr(split, name)), name


@pytest.mark.parametrize("threads", [0, -1, 1.5, True, "2"])
def test_a_thread_count_that_is_not_a_positive_int_is_refused_by_name(threads):
    from dynmask_viz._threads import intra_op_threads

    before = torch.get_num_threads()
    with pytest.raises(ValueError, match=r"threads must be an int >= 1 or None \(no change\)"):
        intra_op_threads(threads)
    assert torch.get_num_threads() == before
