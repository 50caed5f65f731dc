"""Training-step cost of the small hybrid config and of each of its single-head variants, measured one after the
other in one run of this script by ``tools/analysis_tools/benchmark.py`` (same machine, same batches: the bundled
clips), written to ``docs/hybrid/benchmark_small_cpu.{json,md}``.

    python tools/analysis_tools/benchmark_heads.py [--iters 5] [--warmup 1]

The hybrid runs the encoder once for its three heads, so its step should cost about the sum of the single-head steps
minus two encoder passes (forward + backward), never more than the sum.
"""
import argparse
import json
import os.path as osp
import subprocess
import sys
import tempfile

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CONFIG = 'configs/hybrid/hybrid-bev-render-depth_swin-w64-d1121_1xb1-8e_nus-mini.py'
VARIANTS = {
    'bev': ('render', 'depth'),
    'render': ('bev', 'depth'),
    'depth': ('bev', 'render'),
    'hybrid (bev+render+depth)': ()
}


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--iters', type=int, default=5)
    p.add_argument('--warmup', type=int, default=1)
    p.add_argument('--teacher', default='work_dirs/centerpoint_pillar08_second_secfpn_1xb2-20e_nus-mini/epoch_20.pth')
    p.add_argument('--out', default='docs/hybrid/benchmark_small_cpu')
    p.add_argument('--render-only', action='store_true', help='rewrite the .md from the saved .json')
    args = p.parse_args()
    if args.render_only:
        with open(args.out + '.json') as f:
            return write(json.load(f)['results'], args.out)
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, drop in VARIANTS.items():
            out = osp.join(tmp, 'r.json')
            opts = [f'model.heads.{h}=None' for h in drop]
            if 'bev' not in drop:
                opts.append(f'model.heads.bev.teacher.checkpoint={args.teacher}')
            cmd = [
                sys.executable, 'tools/analysis_tools/benchmark.py', CONFIG, '--iters',
                str(args.iters), '--warmup',
                str(args.warmup), '--out', out
            ] + (['--cfg-options'] + opts if opts else [])
            proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
            if proc.returncode:
                raise RuntimeError(f'{" ".join(cmd)} failed:\n{proc.stdout[-2000:]}{proc.stderr[-2000:]}')
            with open(out) as f:
                results[name] = json.load(f)
            print(name, results[name]['iter_time_s'], 's/step', flush=True)
    write(results, args.out)


def write(results, out):
    single = [results[k]['iter_time_s'] for k in ('bev', 'render', 'depth')]
    hybrid = results['hybrid (bev+render+depth)']
    lines = [
        '| run | s/step | peak RSS (MB) | encoder fwd (s) | head fwd (s) | backward+step (s) | GFLOPs/sample |',
        '| --- | --- | --- | --- | --- | --- | --- |'
    ]
    for name, r in results.items():
        b = r['breakdown']
        heads = {k[len('forward.heads.'):]: v for k, v in b.items() if k.startswith('forward.heads.')}
        enc = b.get('forward.encoder', 0)
        lines.append(f"| {name} | {r['iter_time_s']:.3f} | {r['peak_mem_mb']:.0f} | {enc:.3f} | "
                     + ', '.join(f'{k} {v:.3f}' for k, v in heads.items())
                     + f" | {b.get('backward+step', 0):.3f} | {r['model_gflops_per_sample']:.1f} |")
    lines.append(f'| sum of the three single-head steps | {sum(single):.3f} | | | | | '
                 f"{sum(results[k]['model_gflops_per_sample'] for k in ('bev', 'render', 'depth')):.1f} |")
    summary = dict(
        sum_single_s=sum(single), hybrid_s=hybrid['iter_time_s'], hybrid_over_sum=hybrid['iter_time_s'] / sum(single))
    with open(out + '.json', 'w') as f:
        json.dump(dict(results=results, summary=summary), f, indent=1)
    with open(out + '.md', 'w') as f:
        f.write('\n'.join(lines) + f"\n\nhybrid / sum of single heads = {summary['hybrid_over_sum']:.3f}\n")
    print('\n'.join(lines))
    print(summary)


if __name__ == '__main__':
    main()
