"""Would Winograd convolution make the ResNet blocks faster on this CPU? Measured, not assumed.

Nine residual blocks hold 88% of a ResNet-9 generator's FLOPs, all in one shape:
a 3x3, 256 -> 256 channel convolution on a reflection-padded 66 x 66 map. On a
CPU whose bfloat16 convolutions run only 2x its float32 rate, the speed issue's
3x target needs fewer multiplications, and Winograd's minimal filtering is the
standard way to get them:

- F(2x2, 3x3): 16 multiplications per 2x2 output tile instead of 36 (2.25x
  fewer), transform matrices of 0, +-1 and 1/2 only;
- F(4x4, 3x3): 36 instead of 144 (4x fewer), but the transforms carry factors
  up to 8 (points 0, +-1, +-2).

Both are written here in plain PyTorch ops: input and output transforms as
strided slices and additions (F(2x2)) or as one small matrix product each
(F(4x4)), the multiplications as one batched bf16 matrix product per
transformed position. For each, the script prints the time of the forward
pass against the direct bf16 convolution (oneDNN), and the relative error of
both against a float64 convolution.

Usage: python benchmarks/winograd.py [--repeats 9]
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
import torch.nn.functional as F

# F(2x2, 3x3): Y = A^T [(G g G^T) * (B^T d B)] A, applied along rows then columns.
G2 = torch.tensor([[1, 0, 0], [0.5, 0.5, 0.5], [0.5, -0.5, 0.5], [0, 0, 1]], dtype=torch.float64)
# F(4x4, 3x3), points 0, 1, -1, 2, -2 and infinity (Lavin and Gray 2016).
BT4 = torch.tensor(
    [
        [4, 0, -5, 0, 1, 0],
        [0, -4, -4, 1, 1, 0],
        [0, 4, -4, -1, 1, 0],
        [0, -2, -1, 2, 1, 0],
        [0, 2, -1, -2, 1, 0],
        [0, 4, 0, -5, 0, 1],
    ],
    dtype=torch.float64,
)
G4 = torch.tensor(
    [
        [1 / 4, 0, 0],
        [-1 / 6, -1 / 6, -1 / 6],
        [-1 / 6, 1 / 6, -1 / 6],
        [1 / 24, 1 / 12, 1 / 6],
        [1 / 24, -1 / 12, 1 / 6],
        [0, 0, 1],
    ],
    dtype=torch.float64,
)
AT4 = torch.tensor(
    [[1, 1, 1, 1, 1, 0], [0, 1, -1, 2, -2, 0], [0, 1, 1, 4, 4, 0], [0, 1, -1, 8, -8, 1]],
    dtype=torch.float64,
)


def transformed_weights(w: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
    """G w G^T for every (out, in) channel pair, as (alpha^2, out, in)."""
    u = torch.einsum("ik,jl,ockl->ijoc", g, g, w.double())
    return u.reshape(-1, w.shape[0], w.shape[1]).to(w.dtype)


def winograd_2x2(x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """Valid 3x3 convolution of a padded (N, C, H+2, W+2) map; H and W even."""
    n, c, hp, wp = x.shape
    th, tw = (hp - 2) // 2, (wp - 2) // 2
    xt = x.transpose(0, 1)  # (C, N, ...): the batch joins the tiles in the product
    v = x.new_empty(4, 4, c, n, th, tw)
    r = [xt[:, :, k : k + 2 * th : 2, :] for k in range(4)]  # row k of every tile
    rows = (r[0] - r[2], r[1] + r[2], r[2] - r[1], r[1] - r[3])  # B^T along rows
    for i, u in enumerate(rows):
        col = [u[..., k : k + 2 * tw : 2] for k in range(4)]
        torch.sub(col[0], col[2], out=v[i, 0])
        torch.add(col[1], col[2], out=v[i, 1])
        torch.sub(col[2], col[1], out=v[i, 2])
        torch.sub(col[1], col[3], out=v[i, 3])
    m = torch.bmm(transformed_weights(w, G2), v.view(16, c, -1))
    k = m.shape[1]
    m = m.view(4, 4, k, n, th, tw)
    y = m.new_empty(k, n, th, 2, tw, 2)
    for p, s in enumerate((m[0] + m[1] + m[2], m[1] - m[2] - m[3])):  # A^T along rows
        torch.add(s[0] + s[1], s[2], out=y[:, :, :, p, :, 0])
        torch.sub(s[1] - s[2], s[3], out=y[:, :, :, p, :, 1])
    return y.view(k, n, 2 * th, 2 * tw).transpose(0, 1)


def winograd_4x4(x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """Valid 3x3 convolution of a padded (N, C, H+2, W+2) map; H and W multiples of 4."""
    n, c, hp, wp = x.shape
    th, tw = (hp - 2) // 4, (wp - 2) // 4
    input_tf = torch.kron(BT4, BT4).to(x.dtype)  # (36, 36): B^T d B on a flattened tile
    output_tf = torch.kron(AT4, AT4).to(x.dtype)  # (16, 36)
    tiles = x.transpose(0, 1).unfold(2, 6, 4).unfold(3, 6, 4).reshape(-1, 36)
    v = (input_tf @ tiles.T).view(36, c, -1)
    m = torch.bmm(transformed_weights(w, G4), v)
    k = m.shape[1]
    y = (output_tf @ m.view(36, -1)).view(4, 4, k, n, th, tw)
    return y.permute(3, 2, 4, 0, 5, 1).reshape(n, k, 4 * th, 4 * tw)


def median_ms(fn, repeats: int) -> float:
    fn()
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return 1e3 * statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=9)
    args = parser.parse_args()
    torch.manual_seed(0)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    w = torch.randn(256, 256, 3, 3) * 0.02
    for n in (1, 2):
        x = torch.randn(n, 256, 66, 66)
        exact = F.conv2d(x.double(), w.double())
        xb, wb = x.bfloat16(), w.bfloat16()
        forms = {
            "direct (oneDNN)": lambda a, b: F.conv2d(a, b),
            "Winograd F(2x2,3x3)": winograd_2x2,
            "Winograd F(4x4,3x3)": winograd_4x4,
        }
        print(f"\nbatch {n}: 3x3 conv 256 -> 256 on 66 x 66, bf16, forward")
        with torch.inference_mode():
            for name, conv in forms.items():
                y = conv(xb, wb).double()
                error = ((y - exact).norm() / exact.norm()).item()
                ms = median_ms(lambda c=conv, a=xb, b=wb: c(a, b), args.repeats)
                print(f"  {name:22s} {ms:7.1f} ms   relative error vs float64 {error:.2e}")


if __name__ == "__main__":
    main()
