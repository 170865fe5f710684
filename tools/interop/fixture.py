"""Shared command line of the interop generators: `--out DIR --seed N --count N`, one JSON file per generator."""
import argparse, json, os, random


def main(name, generate):
    """Parses the arguments, calls generate(rng, count) -> list of cases and writes DIR/<name>.json."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", required=True)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--count", type=int, default=1000)
    args = parser.parse_args()
    cases = generate(random.Random(args.seed), args.count)
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, f"{name}.json"), "w") as f:
        json.dump({"seed": args.seed, "cases": cases}, f, ensure_ascii=False)
