//! Typed, validated hook calls on a [`Plugin`]: encode the input, call, decode, and pass the
//! answer through the host-side check of the hook (`check_entitlement`, `check_distribution`,
//! `check_decision`). A plugin that lies is refused here, so it never over-grants.

use weblm_core::codes::{check_entitlement, CodeInput, Entitlement, ResolveContext};
use weblm_core::compliance::{
    check_decision, ComplianceConfig, ComplianceDecision, ComplianceInput,
};
use weblm_core::distribute::{check_distribution, validate_input, DistributeInput, Distribution};

use crate::abi::{self, Hook};
use crate::error::{Fault, PluginError};
use crate::host::Plugin;

/// A validated result with the fuel the call used.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Checked<T> {
    /// The validated value.
    pub value: T,
    /// Fuel used.
    pub fuel_used: u64,
}

impl Plugin {
    fn finish<T>(&self, r: Result<Checked<T>, PluginError>) -> Result<Checked<T>, PluginError> {
        self.stats().record(r.as_ref().map(|_| ()));
        r
    }

    /// `distribute` through the plugin, validated by [`check_distribution`].
    pub fn distribute(
        &self,
        input: &DistributeInput,
    ) -> Result<Checked<Distribution>, PluginError> {
        let hook = Hook::Distribute;
        let fail = |f| PluginError::call(self.name(), hook, f);
        let r = (|| {
            validate_input(input).map_err(|e| fail(Fault::BadInput(e)))?;
            let raw = self.call_raw(hook, &abi::encode_distribute(input))?;
            let pairs =
                abi::decode_distribute(&raw.output).map_err(|m| fail(Fault::MalformedOutput(m)))?;
            let value = check_distribution(input, &pairs).map_err(|e| fail(e.into()))?;
            Ok(Checked {
                value,
                fuel_used: raw.fuel_used,
            })
        })();
        self.finish(r)
    }

    /// `resolve_codes` through the plugin, validated by [`check_entitlement`].
    pub fn resolve_codes(
        &self,
        codes: &[CodeInput],
        ctx: &ResolveContext,
    ) -> Result<Checked<Entitlement>, PluginError> {
        let hook = Hook::ResolveCodes;
        let fail = |f| PluginError::call(self.name(), hook, f);
        let r = (|| {
            let raw = self.call_raw(hook, &abi::encode_resolve(codes, ctx))?;
            let value = abi::decode_resolve(&raw.output, codes)
                .map_err(|m| fail(Fault::MalformedOutput(m)))?;
            check_entitlement(codes, ctx, &value).map_err(|e| fail(e.into()))?;
            Ok(Checked {
                value,
                fuel_used: raw.fuel_used,
            })
        })();
        self.finish(r)
    }

    /// `compliance` through the plugin, validated by [`check_decision`].
    pub fn compliance(
        &self,
        input: &ComplianceInput,
        config: &ComplianceConfig,
    ) -> Result<Checked<ComplianceDecision>, PluginError> {
        let hook = Hook::Compliance;
        let fail = |f| PluginError::call(self.name(), hook, f);
        let r = (|| {
            let raw = self.call_raw(hook, &abi::encode_compliance(input, config))?;
            let (mode, until) =
                abi::decode_compliance(&raw.output).map_err(|m| fail(Fault::MalformedOutput(m)))?;
            let value = check_decision(input, mode, until).map_err(|e| fail(e.into()))?;
            Ok(Checked {
                value,
                fuel_used: raw.fuel_used,
            })
        })();
        self.finish(r)
    }
}
