//! Typed, validated hook calls on a [`Plugin`]: encode the input, call, decode, and pass the
//! answer through the host-side check of the hook (`check_entitlement`, `check_distribution`,
//! `check_decision`). A plugin that lies is refused here, so it never over-grants.

use weblm_core::codes::{check_entitlement, CodeInput, Entitlement, ResolveContext};
use weblm_core::compliance::{
    check_decision, ComplianceConfig, ComplianceDecision, ComplianceInput,
};
use weblm_core::distribute::{check_shares, validate_input, DistributeInput, Distribution};

use crate::abi::{self, Hook};
use crate::error::{Fault, PluginError};
use crate::host::{FreshInstance, Plugin};

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

    /// `distribute` through the plugin in a fresh instance, validated by
    /// [`check_distribution`](weblm_core::distribute::check_distribution).
    pub fn distribute(
        &self,
        input: &DistributeInput,
    ) -> Result<Checked<Distribution>, PluginError> {
        let hook = Hook::Distribute;
        let r = validate_input(input)
            .map_err(|e| PluginError::call(self.name(), hook, Fault::BadInput(e)))
            .and_then(|()| self.instance_for(hook))
            .and_then(|mut inst| inst.distribute_valid(input));
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

impl FreshInstance<'_> {
    /// `distribute` on this instance (made ahead of time by [`Plugin::fresh_instance`]): the
    /// same checks, validation and stats as [`Plugin::distribute`], without the instantiation.
    pub fn distribute(
        &mut self,
        input: &DistributeInput,
    ) -> Result<Checked<Distribution>, PluginError> {
        let plugin = self.plugin();
        let r = validate_input(input)
            .map_err(|e| PluginError::call(plugin.name(), Hook::Distribute, Fault::BadInput(e)))
            .and_then(|()| self.distribute_valid(input));
        plugin.finish(r)
    }

    /// The call for a validated input: encoded straight into linear memory, the output checked
    /// in place ([`check_shares`] over [`abi::distribute_entries`]), nothing copied between.
    fn distribute_valid(
        &mut self,
        input: &DistributeInput,
    ) -> Result<Checked<Distribution>, PluginError> {
        let (value, fuel_used) = self.call_with(
            Hook::Distribute,
            abi::distribute_input_len(input),
            |m| abi::encode_distribute_into(input, m),
            |out| {
                let entries = abi::distribute_entries(out).map_err(Fault::MalformedOutput)?;
                check_shares(input, entries).map_err(Fault::from)
            },
        )?;
        Ok(Checked { value, fuel_used })
    }
}
