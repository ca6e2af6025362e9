//! Confinement applied by init: rlimits, no_new_privileges (capabilities, seccomp and LSMs
//! come with the confinement issue).

pub mod nnp;
pub mod rlimits;
