#!/bin/sh
# Installs the HTML corpus of the scraping benchmark: the Python documentation
# shipped by Debian's python3-doc package (/usr/share/doc/python3-doc/html).
# The benchmark never downloads anything at run time.
set -eu
if [ -f /usr/share/doc/python3-doc/html/tutorial/index.html ]; then
    echo "python3-doc is installed"
    exit 0
fi
SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO=sudo; fi
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq python3-doc
