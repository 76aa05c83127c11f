//! Human-readable class names of the MNIST family, for logs and reports.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::error::DataError;

/// MNIST classes: the digits.
pub const MNIST_CLASSES: [&str; 10] = ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"];

/// Fashion-MNIST classes, in label order, as named by the dataset's authors.
pub const FASHION_MNIST_CLASSES: [&str; 10] = [
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
];

/// A dataset of the MNIST family, which fixes the meaning of its labels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Family {
    /// Handwritten digits.
    Mnist,
    /// Zalando's clothing images.
    FashionMnist,
}

impl Family {
    /// All class names, indexed by label.
    pub fn class_names(self) -> &'static [&'static str] {
        match self {
            Family::Mnist => &MNIST_CLASSES,
            Family::FashionMnist => &FASHION_MNIST_CLASSES,
        }
    }

    /// The name of `label`, or `None` if the family has no such class.
    pub fn class_name(self, label: u8) -> Option<&'static str> {
        self.class_names().get(usize::from(label)).copied()
    }

    /// `"Dress (3) vs Sneaker (7)"`, or `"digits 3 vs 5"`: names a two-class task
    /// unambiguously in a log line.
    pub fn describe_pair(self, negative: u8, positive: u8) -> String {
        if self == Family::Mnist {
            return format!("digits {negative} vs {positive}");
        }
        let name = |l| self.class_name(l).unwrap_or("?");
        format!(
            "{} ({negative}) vs {} ({positive})",
            name(negative),
            name(positive)
        )
    }
}

impl fmt::Display for Family {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Family::Mnist => "mnist",
            Family::FashionMnist => "fashion-mnist",
        })
    }
}

impl FromStr for Family {
    type Err = DataError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "mnist" => Ok(Family::Mnist),
            "fashion-mnist" => Ok(Family::FashionMnist),
            _ => Err(DataError::invalid(
                "family",
                format!("{s:?}"),
                "expected \"mnist\" or \"fashion-mnist\"",
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_through_display_and_parse() {
        for family in [Family::Mnist, Family::FashionMnist] {
            assert_eq!(family.to_string().parse::<Family>().unwrap(), family);
        }
        let err = "fashion".parse::<Family>().unwrap_err().to_string();
        assert!(err.contains("\"fashion\""), "{err}");
    }

    #[test]
    fn describes_the_fashion_pair_used_in_experiments() {
        assert_eq!(
            Family::FashionMnist.describe_pair(3, 7),
            "Dress (3) vs Sneaker (7)"
        );
        assert_eq!(Family::Mnist.class_name(10), None);
        assert_eq!(Family::Mnist.describe_pair(3, 5), "digits 3 vs 5");
    }
}
