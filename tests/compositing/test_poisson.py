"""Poisson seam correction: the membrane is harmonic, matches the boundary, and leaves detail alone."""

import numpy as np
import pytest
import scipy.sparse as sparse
import scipy.sparse.linalg as sparse_linalg
import torch

from comfyui_fuse.compositing.poisson import harmonic_correction


def exact_correction(change: np.ndarray, domain: np.ndarray) -> np.ndarray:
    """The same problem solved directly: 4-neighbour Laplace = 0 on the domain, c = -change on
    the pixels next to it, zero flux at the array edge."""
    height, width, channels = change.shape
    index = -np.ones((height, width), np.int64)
    count = int(domain.sum())
    index[domain] = np.arange(count)
    ys, xs = np.nonzero(domain)
    rows, columns, degree, rhs = [], [], np.zeros(count), np.zeros((count, channels))
    for dy, dx in ((0, 1), (0, -1), (1, 0), (-1, 0)):
        ny, nx = ys + dy, xs + dx
        inside = (ny >= 0) & (ny < height) & (nx >= 0) & (nx < width)
        here, there = index[ys[inside], xs[inside]], index[ny[inside], nx[inside]]
        degree += np.bincount(here, minlength=count)
        rows.append(here[there >= 0])
        columns.append(there[there >= 0])
        outside = there < 0
        np.add.at(rhs, here[outside], -change[ny[inside][outside], nx[inside][outside]])
    rows, columns = np.concatenate(rows), np.concatenate(columns)
    laplacian = sparse.coo_matrix((-np.ones(len(rows)), (rows, columns)), shape=(count, count)) + sparse.diags(degree)
    solution = -change.copy()
    solution[domain] = sparse_linalg.spsolve(laplacian.tocsc(), rhs)
    return solution


def ellipse_domain(height: int, width: int) -> np.ndarray:
    ys, xs = np.mgrid[0:height, 0:width]
    return ((ys - height / 2) / (0.42 * height)) ** 2 + ((xs - width / 2) / (0.4 * width)) ** 2 < 1


def smooth_change(height: int, width: int, seed: int = 0) -> np.ndarray:
    """An offset that varies slowly across the face, plus per-pixel detail."""
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float64)
    offset = np.stack([0.1 + 0.05 * np.sin(xs / 9), -0.05 + 0.03 * np.cos(ys / 7), 0.02 + 0 * xs], axis=-1)
    return offset + 0.02 * np.random.default_rng(seed).standard_normal((height, width, 3))


@pytest.mark.parametrize("height, width", [(40, 40), (97, 120)])
def test_the_membrane_matches_a_direct_sparse_solve(height, width):
    change, domain = smooth_change(height, width), ellipse_domain(height, width)
    expected = exact_correction(change, domain)
    got = harmonic_correction(torch.from_numpy(change).float(), torch.from_numpy(domain)).double().numpy()
    error = np.abs(got - expected)[domain]
    assert error.mean() < 0.2 / 255 and error.max() < 1 / 255, f"the membrane must match the direct solve: mean {error.mean() * 255:.2f}/255, worst {error.max() * 255:.2f}/255"
    assert np.array_equal(got[~domain], -change[~domain].astype(np.float32)), "outside the domain the correction is exactly -change"


def test_a_constant_offset_is_removed_and_detail_is_kept():
    height, width = 64, 80
    domain = ellipse_domain(height, width)
    detail = 0.05 * np.sin(np.arange(width) / 2.0)[None, :, None] * np.ones((height, 1, 3))
    change = torch.from_numpy(0.2 + detail).float()
    corrected = change + harmonic_correction(change, torch.from_numpy(domain))
    inner = torch.from_numpy(domain)
    assert float(corrected[inner].mean().abs()) < 0.02, f"a constant offset must be taken out, but {float(corrected[inner].mean()):.3f} remains"
    gradient = (corrected[:, 1:] - corrected[:, :-1])[inner[:, 1:] & inner[:, :-1]]
    wanted = (change[:, 1:] - change[:, :-1])[inner[:, 1:] & inner[:, :-1]]
    # the membrane carries the detail found on the boundary a little way in, so the match is not perfect
    assert float((gradient - wanted).abs().mean()) < 0.2 * float(wanted.abs().mean()), "the gradient of the change (its detail) must survive"


@pytest.mark.parametrize(
    "domain, expected",
    [
        (np.zeros((6, 7), bool), "minus change"),  # nothing pasted: change + c is 0 everywhere
        (np.ones((6, 7), bool), "zeros"),  # no pixel outside: no boundary to match, no correction
    ],
)
def test_empty_and_full_domains(domain, expected):
    change = torch.rand((6, 7, 3), generator=torch.Generator().manual_seed(0))
    got = harmonic_correction(change, torch.from_numpy(domain))
    assert torch.equal(got, -change if expected == "minus change" else torch.zeros_like(change))


def test_mismatched_shapes_are_refused():
    with pytest.raises(ValueError, match=r"change must be \(h,w,C\) and domain \(h,w\) of the same size, but got \(4, 5, 3\) and \(4, 4\)"):
        harmonic_correction(torch.zeros((4, 5, 3)), torch.zeros((4, 4), dtype=torch.bool))
