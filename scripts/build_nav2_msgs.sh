#!/usr/bin/env bash
# Build and install the Python interfaces of nav2_msgs/action/NavigateToPose into a venv that
# holds ROS 2 Kilted from PyPI wheels (ros-kilted-rclpy[fastrtps]==9.1.2 ...), with no ROS install.
#
#   usage: build_nav2_msgs.sh VENV_DIR [--force]
#
# Source: interfaces/nav2_msgs: a subset package named nav2_msgs whose only interface,
# action/NavigateToPose.action, is byte-identical to navigation2 tag 1.4.2 (kilted branch, commit
# 3478badb7e2802c9ff1f805fb5493dc1d0792a5a); checked by sha256 below.
#
# Needs: VENV_DIR/bin/python (3.11) with rclpy installed, cmake >= 3.19, cc and c++ (gcc/g++),
# the Python headers, and PyPI (the pinned build-time wheels in requirements/nav2-build.txt).
#
# Installs into the venv's merged prefix, where the rclpy wheels' bootstrapper finds everything:
#   VENV/lib/libnav2_msgs__rosidl_{generator_c,generator_py,typesupport_*}.so   (on LD_LIBRARY_PATH)
#   VENV/lib/python3.11/site-packages/nav2_msgs/  (Python code + nav2_msgs_s__rosidl_typesupport_*.so)
#   VENV/share/nav2_msgs/, VENV/share/ament_index/resource_index/*/nav2_msgs, VENV/include/nav2_msgs/
# Idempotent: a stamp (hash of the inputs) in VENV/share/nav2_msgs skips an up-to-date rebuild;
# a rebuild first removes the files the previous build installed.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
PKG_SRC="$HERE/../interfaces/nav2_msgs"
FIXUPS="$HERE/../interfaces/ros_wheels_fixups.cmake"
REQS="$HERE/../requirements/nav2-build.txt"
# sha256 of navigation2 1.4.2 (kilted) nav2_msgs/action/NavigateToPose.action
UPSTREAM_ACTION_SHA256=636acf5baa77994bbbf6c40cd929c0af7840aabd6c56e32a3cc1daa797a8048d
MIN_CMAKE=3.19

die() { echo "build_nav2_msgs: ERROR: $*" >&2; exit 1; }
log() { echo "build_nav2_msgs: $*"; }
now() { date +%s.%N; }
T_START=$(now)
declare -a TIMINGS=()
lap() {  # lap NAME START
  local d; d=$(awk -v a="$2" -v b="$(now)" 'BEGIN{printf "%.1f", b-a}')
  TIMINGS+=("$1=${d}s"); log "[time] $1: ${d}s"
}

[ $# -ge 1 ] || die "usage: $0 VENV_DIR [--force]"
VENV_ARG="$1"; FORCE=0
[ "${2:-}" = "--force" ] && FORCE=1
[ -d "$VENV_ARG" ] || die "venv '$VENV_ARG' does not exist (create it: python3.11 -m venv $VENV_ARG; pip install -r requirements/ros.txt)"
VENV="$(cd "$VENV_ARG" && pwd)"
PY="$VENV/bin/python"
[ -x "$PY" ] || die "$PY not found: '$VENV' is not a venv"

# ---- checks -------------------------------------------------------------------------------------
for f in "$PKG_SRC/package.xml" "$PKG_SRC/CMakeLists.txt" "$PKG_SRC/action/NavigateToPose.action" "$FIXUPS" "$REQS"; do
  [ -f "$f" ] || die "missing input file $f"
done
got_sha=$(sha256sum "$PKG_SRC/action/NavigateToPose.action" | cut -d' ' -f1)
[ "$got_sha" = "$UPSTREAM_ACTION_SHA256" ] || die "NavigateToPose.action differs from upstream 1.4.2 (sha256 $got_sha): the type hash would not match Nav2 kilted"

PYVER=$("$PY" -c 'import sys; print("%d.%d" % sys.version_info[:2])') || die "cannot run $PY"
[ "$PYVER" = "3.11" ] || die "venv Python is $PYVER; the ros-kilted wheels are cp311 only"
"$PY" -c 'import rclpy' 2>/dev/null || die "rclpy is not importable in $VENV: pip install 'ros-kilted-rclpy[fastrtps]==9.1.2' first (requirements/ros.txt)"
"$PY" -c 'import setuptools' 2>/dev/null || die "setuptools missing in $VENV (ament_cmake_python needs it): $VENV/bin/pip install setuptools"
PY_INC=$("$PY" -c 'import sysconfig; print(sysconfig.get_paths()["include"])')
[ -f "$PY_INC/Python.h" ] || die "Python headers missing ($PY_INC/Python.h): install the python3.11 dev headers"

command -v cmake >/dev/null 2>&1 || die "cmake not found: apt-get install cmake (>= $MIN_CMAKE), or pip install cmake"
CMAKE_VER=$(cmake --version | sed -n '1s/[^0-9]*\([0-9][0-9.]*\).*/\1/p')
[ "$(printf '%s\n%s\n' "$MIN_CMAKE" "$CMAKE_VER" | sort -V | head -1)" = "$MIN_CMAKE" ] \
  || die "cmake $CMAKE_VER is too old (need >= $MIN_CMAKE for cmake_language(DEFER))"
command -v cc  >/dev/null 2>&1 || die "C compiler 'cc' not found: apt-get install gcc"
command -v c++ >/dev/null 2>&1 || die "C++ compiler 'c++' not found: apt-get install g++ (rosidl_typesupport_c and the C++ typesupports are C++)"
command -v make >/dev/null 2>&1 || die "make not found: apt-get install make"

# ---- build-time wheels (pip is a no-op when they are already there) ------------------------------
t=$(now)
log "pip install -r $(basename "$REQS") into $VENV"
if ! "$VENV/bin/pip" install --disable-pip-version-check --no-input -q -r "$REQS" 2> >(grep -v '^WARNING: Location' >&2); then
  die "pip install of the build-time wheels failed (see above); all of them are on PyPI: $(grep -v '^#' "$REQS" | cut -d'#' -f1 | xargs)"
fi
lap pip "$t"

# ---- up to date? --------------------------------------------------------------------------------
STAMP_FILE="$VENV/share/nav2_msgs/.nav2_build_stamp"
MANIFEST="$VENV/share/nav2_msgs/.install_manifest.txt"
STAMP=$( { cat "$PKG_SRC/package.xml" "$PKG_SRC/CMakeLists.txt" "$PKG_SRC/action/NavigateToPose.action" "$FIXUPS" "$REQS";
           echo "$CMAKE_VER $PYVER"; "$VENV/bin/pip" list --disable-pip-version-check 2>/dev/null | grep -iE '^(ros-|rosidl|numpy )'; } | sha256sum | cut -d' ' -f1)
import_check() {
  (cd / && "$PY" -c '
from nav2_msgs.action import NavigateToPose
for c in (NavigateToPose.Goal, NavigateToPose.Result, NavigateToPose.Feedback):
    c.__class__.__import_type_support__()
NavigateToPose.__class__.__import_type_support__()
assert NavigateToPose.__class__._TYPE_SUPPORT is not None, "no action type support"
print("nav2_msgs.action.NavigateToPose OK:", NavigateToPose.__module__)
')
}
if [ $FORCE -eq 0 ] && [ -f "$STAMP_FILE" ] && [ "$(cat "$STAMP_FILE")" = "$STAMP" ] && import_check >/dev/null 2>&1; then
  log "nav2_msgs is up to date in $VENV (stamp $STAMP); use --force to rebuild"
  lap total "$T_START"
  exit 0
fi

# ---- remove a previous install ------------------------------------------------------------------
if [ -f "$MANIFEST" ]; then
  log "removing previous nav2_msgs install ($(wc -l < "$MANIFEST") files)"
  while IFS= read -r f; do case "$f" in "$VENV"/*) rm -f -- "$f";; esac; done < "$MANIFEST"
fi
SP="$VENV/lib/python$PYVER/site-packages"
rm -rf "$SP/nav2_msgs" "$SP"/nav2_msgs-*.egg-info "$VENV/share/nav2_msgs" "$VENV/include/nav2_msgs"
rm -f "$VENV"/lib/libnav2_msgs__*.so
for d in "$VENV"/share/ament_index/resource_index/*/; do rm -f "$d/nav2_msgs"; done

# ---- configure / build / install ----------------------------------------------------------------
BUILD_DIR="${NAV2_MSGS_BUILD_DIR:-$(mktemp -d "${TMPDIR:-/tmp}/nav2_msgs_build.XXXXXX")}"
KEEP_BUILD="${NAV2_MSGS_KEEP_BUILD:-0}"
cleanup() { [ "$KEEP_BUILD" = 1 ] || rm -rf "$BUILD_DIR"; }
trap cleanup EXIT
mkdir -p "$BUILD_DIR"
JOBS="${NAV2_MSGS_JOBS:-$(nproc)}"
export AMENT_PREFIX_PATH="$VENV${AMENT_PREFIX_PATH:+:$AMENT_PREFIX_PATH}"   # ament index lookups (typesupports)
export CMAKE_PREFIX_PATH="$VENV"
LOG="$BUILD_DIR/build.log"
run_logged() {  # run_logged PHASE cmd...
  if ! "${@:2}" >>"$LOG" 2>&1; then
    echo "----- last 40 lines of $LOG -----" >&2; tail -40 "$LOG" >&2
    KEEP_BUILD=1; die "$1 failed (full log kept: $LOG)"
  fi
}

t=$(now)
log "configure (build dir $BUILD_DIR)"
run_logged configure cmake -S "$PKG_SRC" -B "$BUILD_DIR" \
  -DCMAKE_BUILD_TYPE=Release -DBUILD_TESTING=OFF \
  -DCMAKE_INSTALL_PREFIX="$VENV" -DCMAKE_PREFIX_PATH="$VENV" \
  -DPython3_EXECUTABLE="$PY" -DPython3_FIND_VIRTUALENV=ONLY \
  -DCMAKE_PROJECT_INCLUDE="$FIXUPS"
lap configure "$t"

t=$(now)
log "build (-j$JOBS)"
run_logged build cmake --build "$BUILD_DIR" -j "$JOBS"
lap build "$t"

t=$(now)
log "install into $VENV"
run_logged install cmake --install "$BUILD_DIR"
cp "$BUILD_DIR/install_manifest.txt" "$MANIFEST"
echo "$STAMP" > "$STAMP_FILE"
lap install "$t"

# ---- verify -------------------------------------------------------------------------------------
t=$(now)
import_check || die "nav2_msgs was installed but does not import in $VENV"
lap verify "$t"
log "installed: $(wc -l < "$MANIFEST") files, $(du -shc "$SP/nav2_msgs" "$VENV/share/nav2_msgs" "$VENV/include/nav2_msgs" "$VENV"/lib/libnav2_msgs__*.so | tail -1 | cut -f1) on disk"
lap total "$T_START"
log "timings: ${TIMINGS[*]}"
