"""python -m lab.openstack --port P --state-dir D [--profile fast|devstack] [--delay-scale F]
[--host H] [--verbose]"""
from __future__ import annotations

import argparse
import logging
import sys

from lab import profiles
from lab.daemon import run_until_signalled, setup_logging
from lab.openstack import OpenStackDouble
from lab.openstack import __doc__ as package_doc


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lab.openstack", description=package_doc.split("\n\n")[0])
    parser.add_argument("--port", type=int, required=True, help="TCP port on 127.0.0.1 (0: any free port)")
    parser.add_argument("--state-dir", required=True, help="folder for passwords.json, clouds.yaml, amphorae")
    parser.add_argument("--profile", choices=sorted(profiles.PROFILES), default="fast")
    parser.add_argument("--delay-scale", type=float, default=1.0)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--verbose", action="store_true", help="log every request")
    args = parser.parse_args(argv)
    setup_logging(args.verbose)
    double = OpenStackDouble(port=args.port, state_dir=args.state_dir, profile=args.profile,
                             delay_scale=args.delay_scale, host=args.host, verbose=args.verbose)

    def start() -> None:
        double.start()
        logging.getLogger("openstack-double").info(
            "listening on %s (profile %s, delays %s); clouds.yaml in %s", double.base_url, args.profile,
            double.delays, double.state_dir / "clouds.yaml")
        print(f"openstack double: listening on {double.base_url}", flush=True)

    return run_until_signalled(start, double.stop, "openstack-double")


if __name__ == "__main__":
    sys.exit(main())
