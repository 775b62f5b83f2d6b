//! Proportional shares through the `distribute` hook, checked before use.
//!
//! Every allocation stage of SPEC §6 (zones, tenants, organizations, reserved calls, the system
//! pipeline, guarantees over media servers) that has to cut a pool in proportion calls
//! [`share`]: it builds a [`DistributeInput`], asks the policy (the native [`EpZonePolicy`] or a
//! wasm plugin behind `&dyn Distribute`), and passes the raw answer through
//! [`check_distribution`], so a wrong policy can never hand out more than the pool, more than a
//! cap, or licenses to an unknown bucket.

use crate::distribute::{
    check_distribution, validate_input, Bucket, Distribute, DistributeInput, DistributeInputError,
    DistributionFault,
};

/// One claimant in a proportional share.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Claim {
    /// Its configured share (what it asked for).
    pub weight: u32,
    /// 1 is the highest priority; it receives rounding remainders first.
    pub priority: u32,
    /// The most it may receive.
    pub cap: u32,
}

/// A share could not be computed or the policy's answer was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ShareError {
    /// The input itself was refused (duplicate ids, too many claimants).
    #[error("distribution input refused: {0}")]
    Input(#[from] DistributeInputError),
    /// The policy failed.
    #[error("distribute policy {policy} failed: {message}")]
    Policy {
        /// The policy's name.
        policy: String,
        /// What it reported.
        message: String,
    },
    /// The policy's answer broke the rules (over-grant, above a cap, unknown bucket).
    #[error("distribute policy {policy} gave a refused answer: {fault}")]
    Fault {
        /// The policy's name.
        policy: String,
        /// What was wrong.
        fault: DistributionFault,
    },
}

/// Shares `total` over `claims` with `policy` (bucket ids are the claim indices) and returns
/// one count per claim, in order, after the host-side check.
pub fn share(
    policy: &dyn Distribute,
    total: u32,
    seed: u64,
    claims: &[Claim],
) -> Result<Vec<u32>, ShareError> {
    let input = DistributeInput {
        total,
        seed,
        buckets: claims
            .iter()
            .enumerate()
            .map(|(i, c)| Bucket {
                id: i as u32,
                weight: c.weight,
                priority: c.priority,
                cap: c.cap,
            })
            .collect(),
    };
    validate_input(&input)?;
    let d = policy
        .distribute(&input)
        .map_err(|message| ShareError::Policy {
            policy: policy.name().to_string(),
            message,
        })?;
    let raw: Vec<(u32, i64)> = d.shares.iter().map(|s| (s.id, s.count as i64)).collect();
    let checked = check_distribution(&input, &raw).map_err(|fault| ShareError::Fault {
        policy: policy.name().to_string(),
        fault,
    })?;
    Ok(checked.shares.iter().map(|s| s.count).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::distribute::{Distribution, EpZonePolicy, Share};

    struct Greedy;
    impl Distribute for Greedy {
        fn name(&self) -> &str {
            "test:greedy"
        }
        fn distribute(&self, input: &DistributeInput) -> Result<Distribution, String> {
            Ok(Distribution {
                shares: input
                    .buckets
                    .iter()
                    .map(|b| Share {
                        id: b.id,
                        count: input.total,
                    })
                    .collect(),
            })
        }
    }

    struct Broken;
    impl Distribute for Broken {
        fn name(&self) -> &str {
            "test:broken"
        }
        fn distribute(&self, _: &DistributeInput) -> Result<Distribution, String> {
            Err("trap".into())
        }
    }

    fn claims() -> Vec<Claim> {
        vec![
            Claim {
                weight: 10,
                priority: 1,
                cap: 10,
            },
            Claim {
                weight: 10,
                priority: 1,
                cap: 10,
            },
        ]
    }

    #[test]
    fn native_policy_shares_in_proportion() {
        assert_eq!(share(&EpZonePolicy, 10, 0, &claims()).unwrap(), vec![5, 5]);
    }

    #[test]
    fn an_over_granting_policy_is_refused() {
        let e = share(&Greedy, 10, 0, &claims()).unwrap_err();
        assert!(matches!(e, ShareError::Fault { .. }), "{e}");
        assert!(e.to_string().contains("test:greedy"), "{e}");
    }

    #[test]
    fn a_failing_policy_is_reported_by_name() {
        let e = share(&Broken, 10, 0, &claims()).unwrap_err();
        assert_eq!(
            e.to_string(),
            "distribute policy test:broken failed: trap".to_string()
        );
    }
}
