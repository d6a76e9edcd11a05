#!/bin/sh
# Runs inside the image right after the bento's Python packages are installed (bentofile.yaml
# docker.setup_script): removes what only the build needed. The bento ships wheels only, so
# BentoML's default compilers and git are dead weight at run time. With buildah (one layer
# per build) this shrinks the image; with Docker's layer per step it cannot.
set -eu
pip uninstall --yes --quiet uv
apt-get purge --yes --quiet build-essential git gnupg2
# Apt keeps what installed packages recommend or suggest (python3-pip recommends
# build-essential, apt suggests dpkg-dev...): that would be the whole compiler chain.
apt-get autoremove --purge --yes --quiet -o APT::AutoRemove::RecommendsImportant=false \
    -o APT::AutoRemove::SuggestsImportant=false
rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin /root/.cache
# The data libraries' own test suites and C headers (pandas, pyarrow: file scoring) are
# neither run nor compiled against in the image: about 60 MB.
site=$(python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
rm -rf "$site/pandas/tests" "$site/pyarrow/tests" "$site/pyarrow/include" "$site/pyarrow/src"
