//! Inspection outcomes: the grade given to inspected units, the conditions
//! observed on them, and the disposition (where the units go next).
//! Pure: no IO.

use super::values::keyword_enum;

keyword_enum! {
    /// Overall grade of inspected units, best (A) to worst (F). There is no
    /// "E", matching the grading sheet used on the floor.
    Grade {
        /// As new.
        A = "A",
        /// Light signs of handling.
        B = "B",
        /// Visible wear, fully working.
        C = "C",
        /// Damaged or incomplete.
        D = "D",
        /// Not sellable.
        F = "F",
    }
}

keyword_enum! {
    /// Something observed on inspected units.
    Condition {
        /// Retail packaging damaged.
        PackagingDamaged = "packaging_damaged",
        /// Accessories listed for the item are missing.
        MissingAccessories = "missing_accessories",
        /// Scratches, dents or marks.
        CosmeticDamage = "cosmetic_damage",
        /// Does not work as intended.
        FunctionalDefect = "functional_defect",
        /// Shows signs of use.
        Used = "used",
        /// Not the item that was expected on this line (raises a flag).
        WrongItem = "wrong_item",
        /// The box held nothing (raises a flag).
        EmptyBox = "empty_box",
    }
}

keyword_enum! {
    /// Where disposed units go.
    Disposition {
        /// Back to sellable stock as new.
        Restock = "restock",
        /// Sellable as open box.
        OpenBox = "open_box",
        /// To refurbishment.
        Refurbish = "refurbish",
        /// Back to the vendor.
        ReturnToVendor = "return_to_vendor",
        /// Sold off in bulk.
        Liquidate = "liquidate",
        /// Given to charity.
        Donate = "donate",
        /// Recycled for materials.
        Recycle = "recycle",
        /// Destroyed.
        Scrap = "scrap",
        /// Held aside pending investigation.
        Quarantine = "quarantine",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grades_are_the_uppercase_letters_a_to_f_without_e() {
        let all: Vec<&str> = Grade::ALL.iter().map(|g| g.as_str()).collect();
        assert_eq!(all, ["A", "B", "C", "D", "F"]);
        assert_eq!(Grade::parse("F").unwrap(), Grade::F);
        for bad in ["E", "a", "", "AA"] {
            assert_eq!(Grade::parse(bad).unwrap_err().expected, Grade::EXPECTED);
        }
        assert_eq!(Grade::EXPECTED, r#"one of "A", "B", "C", "D", "F""#);
        assert!(Grade::A < Grade::F);
    }

    #[test]
    fn conditions_and_dispositions_parse_their_snake_case_names() {
        for c in Condition::ALL {
            assert_eq!(Condition::parse(c.as_str()).unwrap(), *c);
            assert!(Condition::EXPECTED.contains(&format!("\"{c}\"")));
        }
        for d in Disposition::ALL {
            assert_eq!(Disposition::parse(&d.to_string()).unwrap(), *d);
            assert!(Disposition::EXPECTED.contains(&format!("\"{d}\"")));
        }
        assert_eq!(Condition::ALL.len(), 7);
        assert_eq!(Disposition::ALL.len(), 9);
        assert_eq!(Disposition::ReturnToVendor.as_str(), "return_to_vendor");
        assert_eq!(Condition::parse("WrongItem").unwrap_err().expected, Condition::EXPECTED);
    }

    #[test]
    fn serde_uses_the_keyword_and_refuses_others_with_the_expectation() {
        assert_eq!(serde_json::to_string(&Grade::B).unwrap(), "\"B\"");
        assert_eq!(serde_json::to_string(&Disposition::OpenBox).unwrap(), "\"open_box\"");
        let err = serde_json::from_str::<Grade>("\"E\"").unwrap_err();
        assert!(err.to_string().starts_with(Grade::EXPECTED), "{err}");
        let err = serde_json::from_str::<Disposition>("\"burn\"").unwrap_err();
        assert!(err.to_string().starts_with(Disposition::EXPECTED), "{err}");

        let bytes = rmp_serde::to_vec_named(&Condition::EmptyBox).unwrap();
        assert_eq!(rmp_serde::from_slice::<Condition>(&bytes).unwrap(), Condition::EmptyBox);
    }
}
