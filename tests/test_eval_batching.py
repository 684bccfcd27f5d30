"""Packing images' views into forward batches, without a model: fake images with numbered views."""
from __future__ import annotations

import pytest
import torch

from inception_eval.batching import PendingImage, pack_batches


def _image(index: int, views: int, start: int) -> PendingImage:
    """An image whose view j carries the number ``start + j`` in every pixel."""
    nums = torch.arange(start, start + views, dtype=torch.uint8)
    return PendingImage(index, f"/img/{index}.jpg", nums[:, None, None, None].expand(views, 3, 2, 2).clone())


def _images(counts):
    out, start = [], 0
    for i, c in enumerate(counts):
        out.append(_image(i, c, start))
        start += c
    return out


@pytest.mark.parametrize("counts,max_batch", [((5, 3, 7, 1), 4), ((10,), 3), ((2, 2, 2), 6), ((1, 1, 1), 1),
                                              ((9, 1), 100)])
def test_batches_cut_the_view_stream_in_order(counts, max_batch):
    images = _images(counts)
    total = sum(counts)
    batches = list(pack_batches(images, max_batch))
    sizes = [b.size for b in batches]
    # Every batch is exactly max_batch views except the last; nothing lost, nothing repeated.
    assert sizes[:-1] == [max_batch] * (len(sizes) - 1) and 0 < sizes[-1] <= max_batch
    assert sum(sizes) == total
    stream = torch.cat([b.pixels()[:, 0, 0, 0] for b in batches])
    assert stream.tolist() == list(range(total))
    for b in batches:
        assert b.pixels().shape == (b.size, 3, 2, 2)


def test_an_image_spanning_batches_finishes_once_with_all_its_logits():
    images = _images((5, 3, 7, 1))
    finished = []
    for b in pack_batches(images, 4):
        # A fake model: logits row = (view number, -view number), per head.
        nums = b.pixels()[:, 0, 0, 0].float()
        outs = {"main": torch.stack([nums, -nums], 1), "aux1": torch.stack([2 * nums, nums], 1)}
        for r in range(b.size):  # locate maps a batch row back to its image and view
            im, v = b.locate(r)
            assert int(im.views[v, 0, 0, 0]) == int(nums[r])
        finished += b.scatter(outs)
    assert [im.index for im in finished] == [0, 1, 2, 3]
    start = 0
    for im in finished:
        expect = torch.arange(start, start + im.num_views, dtype=torch.float32)
        assert im.remaining == 0
        assert im.logits["main"][:, 0].tolist() == expect.tolist()
        assert im.logits["aux1"][:, 0].tolist() == (2 * expect).tolist()
        start += im.num_views


def test_images_are_pulled_only_as_far_as_the_next_batch_needs():
    pulled = []

    def source():
        for im in _images((3, 3, 3, 3)):
            pulled.append(im.index)
            yield im

    it = pack_batches(source(), 4)
    first = next(it)
    assert first.size == 4 and pulled == [0, 1]  # 3 + 3 views cover one batch of 4
    next(it)
    assert pulled == [0, 1, 2]
    with pytest.raises(IndexError):
        first.locate(4)


def test_bad_batch_size_and_empty_inputs():
    with pytest.raises(ValueError, match="max_batch"):
        list(pack_batches(_images((2,)), 0))
    assert list(pack_batches([], 4)) == []
    with pytest.raises(ValueError, match="no views"):
        PendingImage(0, "/x.jpg", torch.zeros((0, 3, 2, 2), dtype=torch.uint8))
