//! Signatures as the pages mark them: signed and believed, signed and not believed, missing
//! where the signing policy needs one, or unsigned. The judgement comes from the application
//! layer ([`Releases::signature`]); this module only shapes it for the templates.

use ledger_app::ledger::signing::Judgement;
use ledger_app::ledger::{Source, StoredEntry};
use ledger_app::views::Releases;

use super::{PageError, without_paths};

/// An entry's signature as the pages mark it.
pub struct SignatureMark {
    /// `signed`, `invalid`, `missing`, `unverified` or `unsigned`: the class and `data-signature`
    /// of its mark.
    pub state: &'static str,
    /// The mark's text.
    pub label: &'static str,
    /// Who signed it (the recorded actor's principal), when the signature is believed.
    pub signer: Option<String>,
    /// The signing key's SHA256 fingerprint, when the signature names one.
    pub key: Option<String>,
    /// What the signing policy makes of it, the mark's title: who signed with which key, why
    /// the signature is not believed, or why the entry may be unsigned.
    pub note: String,
}

impl SignatureMark {
    /// The mark of `stored`, judged against the project's signing policy.
    pub fn of<S: Source>(
        releases: &Releases<'_, S>,
        stored: &StoredEntry,
    ) -> Result<SignatureMark, PageError> {
        Ok(SignatureMark::judged(releases.signature(stored)?.0))
    }

    fn judged(judgement: Judgement) -> SignatureMark {
        // A problem may name the allowed_signers file by its path on this machine.
        let problem = judgement.problem().map(|problem| without_paths(&problem)).unwrap_or_default();
        match judgement {
            Judgement::Valid { signer, key } => SignatureMark {
                state: "signed",
                label: "✓ signed",
                note: format!("signed by {signer} with key {key}"),
                signer: Some(signer),
                key: Some(key),
            },
            Judgement::Invalid { key, .. } => SignatureMark {
                state: "invalid",
                label: "✗ signature not valid",
                signer: None,
                key,
                note: problem,
            },
            Judgement::Missing => SignatureMark {
                state: "missing",
                label: "✗ signature missing",
                signer: None,
                key: None,
                note: problem,
            },
            Judgement::Unverified { key } => SignatureMark {
                state: "unverified",
                label: "signed, not verified",
                signer: None,
                note: format!("signed with key {key}; there is no signing policy to say whose key it is"),
                key: Some(key),
            },
            Judgement::Unsigned => {
                SignatureMark::unsigned("not signed, and no signing policy needs it to be")
            }
            Judgement::UnsignedBeforePolicy => {
                SignatureMark::unsigned("not signed; recorded before the signing policy began (its `since`)")
            }
        }
    }

    fn unsigned(note: &str) -> SignatureMark {
        SignatureMark { state: "unsigned", label: "unsigned", signer: None, key: None, note: note.into() }
    }
}
