//! Actor roles and their ordering: each role includes every role below it
//! (receiver < inspector < supervisor < admin). Pure: no IO.

use super::values::keyword_enum;

keyword_enum! {
    /// What an actor may do. Declaration order is the privilege order, which
    /// the derived `Ord` relies on.
    Role {
        /// Receives parcels.
        Receiver = "receiver",
        /// Also inspects and disposes units.
        Inspector = "inspector",
        /// Also corrects inspections, clears flags, approves restricted
        /// dispositions and dispositions of flagged cases.
        Supervisor = "supervisor",
        /// Everything.
        Admin = "admin",
    }
}

impl Role {
    /// Whether this role grants what `required` grants.
    pub fn includes(self, required: Role) -> bool {
        self >= required
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_role_includes_itself_and_every_role_below_it_only() {
        for (i, have) in Role::ALL.iter().enumerate() {
            for (j, need) in Role::ALL.iter().enumerate() {
                assert_eq!(have.includes(*need), i >= j, "{have} includes {need}");
            }
        }
        assert!(Role::Admin.includes(Role::Supervisor));
        assert!(!Role::Inspector.includes(Role::Supervisor));
    }

    #[test]
    fn roles_parse_and_serialize_as_snake_case() {
        assert_eq!(Role::parse("supervisor").unwrap(), Role::Supervisor);
        assert_eq!(
            Role::parse("Admin").unwrap_err().expected,
            r#"one of "receiver", "inspector", "supervisor", "admin""#
        );
        assert_eq!(serde_json::to_string(&Role::Receiver).unwrap(), "\"receiver\"");
        let err = serde_json::from_str::<Role>("\"root\"").unwrap_err();
        assert!(err.to_string().starts_with(Role::EXPECTED), "{err}");
    }
}
