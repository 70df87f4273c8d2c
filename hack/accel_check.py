"""Helpers of the accelerator check scripts (hack/rocm-check.sh,
hack/neuron-check.sh): scrape the agent, read its series, print PASS/FAIL
lines the scripts collect. Standard library only."""
import re
import sys
import urllib.request


def fetch(url, path):
    """Scrapes url into path and returns the text."""
    text = urllib.request.urlopen(url, timeout=10).read().decode()
    open(path, "w").write(text)
    return text


class Series:
    """The samples of a Prometheus text exposition."""

    def __init__(self, text):
        self.rows = []
        for line in text.splitlines():
            m = re.match(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$', line)
            if m:
                labels = dict(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', m[2] or ""))
                self.rows.append((m[1], labels, float(m[3])))

    def get(self, name, **want):
        """(labels, value) of the samples of name whose labels include want."""
        return [(l, v) for n, l, v in self.rows if n == name and all(l.get(k) == x for k, x in want.items())]

    def value(self, name, **want):
        """The sum of the matching samples, None if there is none."""
        found = self.get(name, **want)
        return sum(v for _, v in found) if found else None


def check(desc, ok):
    print(("PASS  " if ok else "FAIL  ") + desc)
    sys.stdout.flush()


def info(desc):
    print("INFO  " + desc)
