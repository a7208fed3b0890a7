//! Capture and restore of `segstate::snapshot` files on /dev/kvm. (Work in progress:
//! see issue 5.)
