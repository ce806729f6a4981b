# Shared by scripts/run and scripts/test: install missing Debian packages.

# ensure_packages PKG...: installs the named Debian packages that are not installed yet.
ensure_packages() {
  local missing=()
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  echo "installing: ${missing[*]}" >&2
  local sudo=""
  [ "$(id -u)" -ne 0 ] && sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# What building netamp needs (opus builds its own libopus with cmake).
BUILD_PACKAGES=(libasound2-dev pkg-config cmake build-essential curl)

# version_ge A B: true when version A >= version B.
version_ge() {
  [ "$(printf '%s\n%s\n' "$2" "$1" | sort -V | head -n 1)" = "$2" ]
}

# ensure_rust: a Rust toolchain at least as new as the workspace's rust-version (Debian's
# own cargo is older): rustup's when it is reachable, else one sentence on what to do.
ensure_rust() {
  local need have
  need="$(sed -n 's/^rust-version *= *"\(.*\)"/\1/p' Cargo.toml | head -n 1)"
  # shellcheck disable=SC1091
  [ -f "$HOME/.cargo/env" ] && . "$HOME/.cargo/env"
  have="$(rustc --version 2>/dev/null | awk '{ print $2 }')"
  if [ -n "$have" ] && version_ge "$have" "$need"; then
    return 0
  fi
  if command -v rustup >/dev/null 2>&1 && rustup toolchain install stable --profile minimal >&2; then
    rustup default stable >&2
  elif curl -fsS --max-time 15 -o /dev/null https://sh.rustup.rs 2>/dev/null; then
    echo "installing Rust (found ${have:-none}, netamp needs $need or newer) with rustup" >&2
    curl --proto '=https' --tlsv1.2 -fsS https://sh.rustup.rs | sh -s -- -y --profile minimal >&2
    # shellcheck disable=SC1091
    . "$HOME/.cargo/env"
  else
    echo "netamp needs Rust $need or newer (found: ${have:-none}), and rustup.rs cannot be reached to install it: install Rust from https://rustup.rs, then run this again." >&2
    exit 1
  fi
  have="$(rustc --version 2>/dev/null | awk '{ print $2 }')"
  version_ge "${have:-0}" "$need" || {
    echo "netamp needs Rust $need or newer; rustup installed ${have:-nothing}." >&2
    exit 1
  }
}
