# SPDX-License-Identifier: MIT
"""The demo's install step (scripts/install-deps.sh demo) installs every library the binary's
build requires: each pkg-config module CMakeLists.txt asks for with REQUIRED comes from a Debian
package on the demo's list, found with dpkg -S from the module's .pc file on this machine. A
library made mandatory without adding its package would pass here only where it happens to be
installed already, and fail the demo on a fresh machine."""
import os
import re
import subprocess
import unittest

TOP = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def required_modules():
    with open(os.path.join(TOP, "CMakeLists.txt")) as f:
        text = f.read()
    return re.findall(r"pkg_check_modules\(\w+ REQUIRED IMPORTED_TARGET ([\w.+-]+)\)", text)


def demo_packages():
    script = ('eval "$(sed -n \'/^demo_packages=(/,/)/p\' scripts/install-deps.sh)"; '
              'printf "%s\\n" "${demo_packages[@]}"')
    out = subprocess.run(["bash", "-c", script], cwd=TOP, capture_output=True, text=True,
                         check=True).stdout
    return set(out.split())


def package_of(module):
    """The Debian package that ships <module>'s .pc file here."""
    pcdir = subprocess.run(["pkg-config", "--variable=pcfiledir", module], capture_output=True,
                           text=True, check=True).stdout.strip()
    out = subprocess.run(["dpkg", "-S", os.path.join(pcdir, module + ".pc")],
                         capture_output=True, text=True, check=True).stdout
    return out.split(":", 1)[0]


class DemoPackages(unittest.TestCase):
    def test_every_required_library_of_the_build_is_on_the_demo_list(self):
        modules = required_modules()
        self.assertIn("liburing", modules)  # the parse found the list
        have = demo_packages()
        self.assertIn("cmake", have)
        missing = {m: package_of(m) for m in modules if package_of(m) not in have}
        self.assertEqual({}, missing)


if __name__ == "__main__":
    unittest.main()
