//! Registry roles: the type parameter that picks one of several registries of the same
//! connection type (a primary and a replica, say) per route.

/// Names a registry role, so that one app can hold several registries of the same connection
/// type (see [`role!`](crate::role)); both adapters select registries with it.
///
/// ```
/// use tenantpool_resolve::{Role, Replica};
/// assert_eq!(Replica::NAME, "Replica");
/// ```
pub trait Role: Send + Sync + 'static {
    /// The role's name, for messages.
    const NAME: &'static str;
}

/// The default role: the registry most routes use.
///
/// ```
/// use tenantpool_resolve::{Primary, Role};
/// assert_eq!(Primary::NAME, "Primary");
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct Primary;

impl Role for Primary {
    const NAME: &'static str = "Primary";
}

/// A second role, for read replicas.
///
/// ```
/// use tenantpool_resolve::{Replica, Role};
/// assert_eq!(Replica::NAME, "Replica");
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct Replica;

impl Role for Replica {
    const NAME: &'static str = "Replica";
}

/// Declares a registry role: a unit struct implementing [`Role`].
///
/// ```
/// tenantpool_resolve::role!(
///     /// The analytics warehouse.
///     pub Analytics
/// );
/// use tenantpool_resolve::Role;
/// assert_eq!(Analytics::NAME, "Analytics");
/// ```
#[macro_export]
macro_rules! role {
    ($(#[$meta:meta])* $vis:vis $name:ident) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, Default)]
        $vis struct $name;
        impl $crate::Role for $name {
            const NAME: &'static str = stringify!($name);
        }
    };
}
