#!/usr/bin/env python3
"""tests/lava/render.py - renders a LAVA device dictionary or job template to YAML.

    render.py device TEMPLATE [NAME=VALUE ...]   device configuration for lava-run
    render.py job TEMPLATE [NAME=VALUE ...]      job definition (lava-run, lavacli)

TEMPLATE is a Jinja2 file (tests/lava/*.jinja2); NAME=VALUE pairs are its variables
(VALUE read as YAML: 1 is a number, true a boolean, anything else a string). Device
dictionaries extend lava-server's device-type templates, looked up in $LAVA_DEVICE_TYPES
(make lava points it at the ones unpacked into build/lava), then in lava-server's own
places. In a job, `monitors: warden` becomes the monitor of tests/lava/monitor.yaml.
The YAML goes to standard output. Exit status 1 with a message for a missing template,
a variable left undefined, or output that is not YAML.
"""
import os
import sys

import jinja2
import jinja2.sandbox
import yaml

HERE = os.path.dirname(os.path.abspath(__file__))
DEVICE_TYPE_DIRS = [
    "/etc/lava-server/dispatcher-config/device-types",
    "/usr/share/lava-server/device-types",
]


def search_path():
    """Where templates are looked up: this folder, then the device types."""
    extra = os.environ.get("LAVA_DEVICE_TYPES")
    return [HERE] + ([extra] if extra else []) + DEVICE_TYPE_DIRS


def parse_vars(pairs):
    """NAME=VALUE pairs as a dict; raises ValueError for a word without '='."""
    out = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name:
            raise ValueError("'%s' is not NAME=VALUE" % pair)
        out[name] = yaml.safe_load(value) if value else ""
    return out


def load_monitor():
    """The monitor entry of tests/lava/monitor.yaml."""
    with open(os.path.join(HERE, "monitor.yaml"), encoding="utf-8") as f:
        return yaml.safe_load(f)


def fill_monitors(job):
    """Replaces `monitors: warden` in the job's test actions with the monitor itself."""
    for action in job.get("actions", []):
        test = action.get("test") if isinstance(action, dict) else None
        if test and test.get("monitors") == "warden":
            test["monitors"] = [load_monitor()]
    return job


def render(kind, template, variables):
    """The rendered text of TEMPLATE; jinja2 errors propagate."""
    env = jinja2.sandbox.SandboxedEnvironment(
        loader=jinja2.FileSystemLoader(search_path()),
        trim_blocks=True,
        autoescape=False,
        undefined=jinja2.StrictUndefined if kind == "job" else jinja2.Undefined,
    )
    return env.get_template(os.path.basename(template)).render(**variables)


def main(argv):
    if len(argv) < 3 or argv[1] not in ("device", "job"):
        sys.stderr.write(__doc__)
        return 2
    kind, template = argv[1], argv[2]
    try:
        text = render(kind, template, parse_vars(argv[3:]))
        data = yaml.safe_load(text)
    except (ValueError, jinja2.TemplateError, yaml.YAMLError) as err:
        sys.stderr.write("render.py: %s: %s\n" % (template, err))
        return 1
    if kind == "job":
        data = fill_monitors(data)
    yaml.safe_dump(data, sys.stdout, sort_keys=False, width=1000)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
