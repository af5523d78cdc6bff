#!/usr/bin/env python3
"""PyTorch reference for bench_train's cpu figure: one full training iteration (a D step then a G step) of the
same GAN as apps/gan/trainer.cpp, on the CPU, with seeded random VGG-19 weights (the cost is the same as with the
ImageNet ones) and random images (the cost does not depend on the pixels).

The model mirrors apps/gan/models.cpp and vgg.cpp, the losses apps/gan/losses.cpp and autograd/, and the step
Trainer::train_step:
  G: c9s1-32, d64, d128, 5 residual blocks of 128, up64, up32, c9s1-3; reflection padding, affine instance norm,
     ReLU, nearest x2 upsampling then a 3x3 conv; (tanh + 1) / 2. Convs followed by instance norm have no bias.
  D: PatchGAN C64 (s2, bias, no norm) - C128 s2 - C256 s2 - C512 s1 - conv to 1 channel (s1, bias); 4x4 kernels,
     zero padding 1, LeakyReLU 0.2, affine instance norm.
  phi: VGG-19 features to relu5_1 (torchvision layout), max pooling, ImageNet mean/std input normalisation, frozen.
  L_G = 1 content(relu4_2 MSE) + 5e3 style(Gram F F^T / (C H W) MSE at relu1_1..relu5_1, mean over the batch)
        + 0.1 LSGAN_G + 0.1 TV (sqrt form, eps 1e-8, mean over the (H-1)(W-1) interior terms);
  L_D = 0.1 (mean((D(real) - 1)^2) + mean(D(G(x))^2)).
  Adam: G lr 1e-3, betas (0.9, 0.999); D lr 2e-4, betas (0.5, 0.999).
  Iteration: content targets (VGG, no grad); y = G(x); D step on y.detach() and real crops; G step with D's
  parameters frozen; gradient norms and loss values read back, as the trainer logs them.

With --stylize WxH --generator FILE it times stylize instead: the generator alone, with the weights of FILE (a
generator.safetensors that gramgan wrote; the same weights as ours), in inference mode (no autograd), on one random
image mirrored to sides that are multiples of 4 as gramgan's stylize pads it; it also prints the process's peak
resident memory (getrusage ru_maxrss: the interpreter and torch included, as a user's process has them).

Usage: bench/reference_pytorch.py [--size 128] [--batch 1] [--threads 2] [--iterations 3] [--warmup 1]
       bench/reference_pytorch.py --stylize WxH --generator FILE [--threads 2] [--iterations 3] [--warmup 1]
Prints the mean seconds per timed iteration (or image). torchvision is not needed.
"""
import argparse
import json
import resource
import struct
import sys
import time

try:
    import torch
    import torch.nn as nn
    import torch.nn.functional as F
except ImportError:
    sys.stderr.write(
        f"reference_pytorch.py: PyTorch is not importable from {sys.executable}.\n"
        "  Debian/Ubuntu: apt-get install python3-torch, then run this script with the system python3\n"
        "  (the one apt installs into); elsewhere: pip install torch. Nothing else is needed.\n")
    sys.exit(2)

LAMBDA_CONTENT, LAMBDA_STYLE, LAMBDA_ADV, LAMBDA_TV = 1.0, 5e3, 0.1, 0.1
CONTENT_LAYERS = ["relu4_2"]
STYLE_LAYERS = ["relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1"]
TV_EPS = 1e-8

# (in, out, relu name, max pool before) for VGG-19's convs up to relu5_1.
VGG_CONVS = [
    (3, 64, "relu1_1", False), (64, 64, "relu1_2", False), (64, 128, "relu2_1", True),
    (128, 128, "relu2_2", False), (128, 256, "relu3_1", True), (256, 256, "relu3_2", False),
    (256, 256, "relu3_3", False), (256, 256, "relu3_4", False), (256, 512, "relu4_1", True),
    (512, 512, "relu4_2", False), (512, 512, "relu4_3", False), (512, 512, "relu4_4", False),
    (512, 512, "relu5_1", True),
]


def conv_block(cin, cout, kernel, stride, pad, reflect, norm, act, bias):
    layers = []
    if reflect and pad > 0:
        layers.append(nn.ReflectionPad2d(pad))
        pad = 0
    layers.append(nn.Conv2d(cin, cout, kernel, stride=stride, padding=pad, bias=bias))
    if norm:
        layers.append(nn.InstanceNorm2d(cout, eps=1e-5, affine=True))
    if act is not None:
        layers.append(act)
    return layers


class ResidualBlock(nn.Module):
    def __init__(self, channels):
        super().__init__()
        self.body = nn.Sequential(
            *conv_block(channels, channels, 3, 1, 1, True, True, nn.ReLU(), False),
            *conv_block(channels, channels, 3, 1, 1, True, True, None, False))

    def forward(self, x):
        return x + self.body(x)


class Generator(nn.Module):
    def __init__(self, w=32, blocks=5):
        super().__init__()
        layers = conv_block(3, w, 9, 1, 4, True, True, nn.ReLU(), False)
        layers += conv_block(w, 2 * w, 3, 2, 1, True, True, nn.ReLU(), False)
        layers += conv_block(2 * w, 4 * w, 3, 2, 1, True, True, nn.ReLU(), False)
        layers += [ResidualBlock(4 * w) for _ in range(blocks)]
        layers += [nn.Upsample(scale_factor=2, mode="nearest")]
        layers += conv_block(4 * w, 2 * w, 3, 1, 1, True, True, nn.ReLU(), False)
        layers += [nn.Upsample(scale_factor=2, mode="nearest")]
        layers += conv_block(2 * w, w, 3, 1, 1, True, True, nn.ReLU(), False)
        layers += conv_block(w, 3, 9, 1, 4, True, False, None, True)
        self.body = nn.Sequential(*layers)

    def forward(self, x):
        return (torch.tanh(self.body(x)) + 1) / 2


class Discriminator(nn.Module):
    def __init__(self, w=64):
        super().__init__()
        leaky = lambda: nn.LeakyReLU(0.2)  # noqa: E731
        self.body = nn.Sequential(
            *conv_block(3, w, 4, 2, 1, False, False, leaky(), True),
            *conv_block(w, 2 * w, 4, 2, 1, False, True, leaky(), False),
            *conv_block(2 * w, 4 * w, 4, 2, 1, False, True, leaky(), False),
            *conv_block(4 * w, 8 * w, 4, 1, 1, False, True, leaky(), False),
            *conv_block(8 * w, 1, 4, 1, 1, False, False, None, True))

    def forward(self, x):
        return self.body(x)


class Vgg19Features(nn.Module):
    """Seeded He-normal weights, zero biases, frozen; forward returns the requested relu outputs."""

    def __init__(self):
        super().__init__()
        self.convs = nn.ModuleList(nn.Conv2d(cin, cout, 3, padding=1) for cin, cout, _, _ in VGG_CONVS)
        for conv in self.convs:
            fan_in = conv.weight.shape[1] * conv.weight.shape[2] * conv.weight.shape[3]
            nn.init.normal_(conv.weight, 0.0, (2.0 / fan_in) ** 0.5)
            nn.init.zeros_(conv.bias)
            conv.requires_grad_(False)
        self.register_buffer("mean", torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1))

    def forward(self, images, layers):
        deepest = max(i for i, spec in enumerate(VGG_CONVS) if spec[2] in layers)
        x = (images - self.mean) / self.std
        out = {}
        for i in range(deepest + 1):
            if VGG_CONVS[i][3]:
                x = F.max_pool2d(x, 2)
            x = F.relu(self.convs[i](x))
            if VGG_CONVS[i][2] in layers:
                out[VGG_CONVS[i][2]] = x
        return out


def gram(features):
    n, c, h, w = features.shape
    f = features.reshape(n, c, h * w)
    return torch.bmm(f, f.transpose(1, 2)) / (c * h * w)


def tv_loss(u):
    dv = u[:, :, :-1, :-1] - u[:, :, 1:, :-1]
    dh = u[:, :, :-1, :-1] - u[:, :, :-1, 1:]
    return torch.sqrt(dv * dv + dh * dh + TV_EPS).mean()


def gradient_norm(parameters):
    return sum(float((p.grad * p.grad).sum()) for p in parameters if p.grad is not None) ** 0.5


class Step:
    def __init__(self, size, batch):
        torch.manual_seed(0)
        self.size, self.batch = size, batch
        self.vgg = Vgg19Features()
        self.G, self.D = Generator(), Discriminator()
        self.opt_g = torch.optim.Adam(self.G.parameters(), lr=1e-3, betas=(0.9, 0.999), eps=1e-8)
        self.opt_d = torch.optim.Adam(self.D.parameters(), lr=2e-4, betas=(0.5, 0.999), eps=1e-8)
        # Random stand-ins for the images: a content pool and one style image larger than a crop.
        self.content_pool = torch.rand(8, 3, size + 32, size + 32)
        self.style_image = torch.rand(1, 3, 2 * size, 2 * size)
        with torch.no_grad():
            feats = self.vgg(self.style_image, STYLE_LAYERS)
            self.style_grams = {k: gram(v)[0] for k, v in feats.items()}
        self.step = 0

    def crops(self, pool, count):
        out = []
        for _ in range(count):
            i = int(torch.randint(pool.shape[0], ()))
            y, x = (int(v) for v in torch.randint(pool.shape[2] - self.size + 1, (2,)))
            out.append(pool[i, :, y:y + self.size, x:x + self.size])
        return torch.stack(out)

    def __call__(self):
        content = self.crops(self.content_pool, self.batch)
        real = self.crops(self.style_image, self.batch)
        with torch.no_grad():
            targets = self.vgg(content, CONTENT_LAYERS)
        output = self.G(content)

        # (a) D step on L_D with G fixed: y enters detached.
        self.opt_d.zero_grad(set_to_none=True)
        d_real, d_fake = self.D(real), self.D(output.detach())
        d_loss = ((d_real - 1) ** 2).mean() + (d_fake ** 2).mean()
        logged = [float(d_loss), float(d_real.mean()), float(d_fake.mean())]
        (LAMBDA_ADV * d_loss).backward()
        logged.append(gradient_norm(self.D.parameters()))
        self.opt_d.step()

        # (b) G step on L_G with D frozen (no D weight gradients).
        self.opt_g.zero_grad(set_to_none=True)
        feats = self.vgg(output, CONTENT_LAYERS + STYLE_LAYERS)
        content_loss = sum(F.mse_loss(feats[k], targets[k]) for k in CONTENT_LAYERS)
        style_loss = sum(((gram(feats[k]) - self.style_grams[k]) ** 2).mean() for k in STYLE_LAYERS)
        tv = tv_loss(output)
        self.D.requires_grad_(False)
        adv = ((self.D(output) - 1) ** 2).mean()
        self.D.requires_grad_(True)
        g_loss = LAMBDA_CONTENT * content_loss + LAMBDA_STYLE * style_loss + LAMBDA_ADV * adv + LAMBDA_TV * tv
        logged += [float(content_loss), float(style_loss), float(tv), float(adv), float(g_loss)]
        g_loss.backward()
        logged.append(gradient_norm(self.G.parameters()))
        self.opt_g.step()
        self.step += 1
        return logged


def generator_parameter_names(blocks=5):
    """gramgan's names (apps/gan/models.cpp) for the Generator's convs and norms, in module order."""
    layers = ["head", "down1", "down2"] + [f"res{b}.{i}" for b in range(1, blocks + 1) for i in (0, 1)] + ["up1", "up2"]
    convs = [(f"{name}.conv.weight", None) for name in layers] + [("tail.conv.weight", "tail.conv.bias")]
    norms = [(f"{name}.norm.gamma", f"{name}.norm.beta") for name in layers]
    return convs, norms


def load_generator(path):
    """A Generator holding the tensors of a gramgan generator.safetensors (F32, little-endian)."""
    with open(path, "rb") as f:
        header_size = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(header_size))
        data = f.read()
    meta = header.get("__metadata__", {})
    if meta.get("gramgan.arch", "johnson") != "johnson" or meta.get("gramgan.generator.width") != "32" \
            or meta.get("gramgan.generator.residual_blocks") != "5":
        sys.exit(f"reference_pytorch.py: {path} is not a johnson generator with default widths (32, 5 blocks)")

    def tensor(name):
        info = header[name]
        if info["dtype"] != "F32":
            sys.exit(f"reference_pytorch.py: {path}: {name} is {info['dtype']}, expected F32")
        begin, end = info["data_offsets"]
        return torch.frombuffer(bytearray(data[begin:end]), dtype=torch.float32).reshape(info["shape"])

    generator = Generator()
    convs = [m for m in generator.modules() if isinstance(m, nn.Conv2d)]
    norms = [m for m in generator.modules() if isinstance(m, nn.InstanceNorm2d)]
    conv_names, norm_names = generator_parameter_names()
    with torch.no_grad():
        for module, (weight, bias) in zip(convs, conv_names):
            module.weight.copy_(tensor(weight))
            if bias is not None:
                module.bias.copy_(tensor(bias))
        for module, (gamma, beta) in zip(norms, norm_names):
            module.weight.copy_(tensor(gamma))
            module.bias.copy_(tensor(beta))
    return generator.eval()


def time_stylize(args):
    width, height = (int(v) for v in args.stylize.lower().split("x"))
    generator = load_generator(args.generator)
    # gramgan's stylize mirrors the photo to sides that are multiples of the generator's stride 4.
    image = torch.rand(1, 3, (height + 3) // 4 * 4, (width + 3) // 4 * 4)
    times = []
    with torch.inference_mode():
        for i in range(args.warmup + args.iterations):
            start = time.perf_counter()
            output = generator(image)
            if i >= args.warmup:
                times.append(time.perf_counter() - start)
    if not bool(torch.isfinite(output).all()):
        sys.exit("reference_pytorch.py: the stylized image is not finite")
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, stylize {width}x{height}: "
          f"{args.iterations} images after {args.warmup} warm-up, min {min(times):.3f} s")
    print(f"reference_pytorch: {sum(times) / len(times):.3f} s per image, peak RSS {peak_mib:.0f} MiB")


def main():
    parser = argparse.ArgumentParser(description="PyTorch reference: seconds per GAN training iteration on the CPU")
    parser.add_argument("--size", type=int, default=128, help="image side (default 128, bench_train's cpu case)")
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--threads", type=int, default=2, help="torch intra-op threads (default 2)")
    parser.add_argument("--iterations", type=int, default=3, help="timed iterations (default 3)")
    parser.add_argument("--warmup", type=int, default=1, help="untimed iterations first (default 1)")
    parser.add_argument("--stylize", metavar="WxH", help="time stylize of a WxH photo instead of training")
    parser.add_argument("--generator", metavar="FILE", help="with --stylize: gramgan's generator.safetensors")
    args = parser.parse_args()
    if args.stylize is not None:
        try:
            width, height = (int(v) for v in args.stylize.lower().split("x"))
        except ValueError:
            parser.error(f"--stylize wants WxH, e.g. 1024x683, not '{args.stylize}'")
        if width < 8 or height < 8 or args.generator is None or args.threads < 1 or args.iterations < 1 \
                or args.warmup < 0:
            parser.error("--stylize needs sides >= 8, --generator FILE, --threads and --iterations >= 1")
    if args.size < 24 or args.size % 4 != 0 or args.batch < 1 or args.threads < 1 or args.iterations < 1 \
            or args.warmup < 0:
        parser.error("need --size a multiple of 4 and >= 24, --batch, --threads, --iterations >= 1, --warmup >= 0")

    torch.set_num_threads(args.threads)
    try:
        torch.set_num_interop_threads(args.threads)
    except RuntimeError:
        pass  # already fixed by an earlier parallel call
    if args.stylize is not None:
        time_stylize(args)
        return
    step = Step(args.size, args.batch)
    for _ in range(args.warmup):
        step()
    times = []
    cpu_start = time.process_time()
    for _ in range(args.iterations):
        start = time.perf_counter()
        logged = step()
        times.append(time.perf_counter() - start)
    cpu = (time.process_time() - cpu_start) / args.iterations
    if any(v != v for v in logged):
        sys.exit("reference_pytorch.py: a loss became NaN")
    mean = sum(times) / len(times)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {args.size}x{args.size}, batch "
          f"{args.batch}: {args.iterations} iterations after {args.warmup} warm-up, min {min(times):.3f} s, "
          f"CPU time {cpu:.3f} s per iteration (all threads)")
    print(f"reference_pytorch: {mean:.3f} s per iteration")


if __name__ == "__main__":
    main()
