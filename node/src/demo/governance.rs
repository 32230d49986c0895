//! The partners govern themselves: a board elected with one seat per locality and a
//! chair, by ranked ballots, with a proxy and a declaration of interest; a lost key
//! replaced by the others' vote; the new practice's first partner signing the
//! partnership's agreement before she votes. Proposed and voted before time passes,
//! narrated after.

use super::*;
use crate::api::MemberView;
use anyhow::{ensure, Result};

/// The agreement every partner signs (the demo's is one line).
pub(super) const AGREEMENT: &str = "The partners of the Mutual demo partnership agree to \
     share the work, the risk and the decisions, as the deed says.\n";

/// The motions the governance chapter proposes.
pub(super) struct Votes {
    board: String,
    chair: String,
    replace: String,
    /// The partner whose key is replaced, and their new keystore.
    lost: (usize, PathBuf),
}

impl Demo {
    /// Practice `i`'s partner runs `mutual` with their own keystore through their node.
    fn as_partner(&self, i: usize, args: &[&str]) -> Result<String> {
        let p = &self.practices[i];
        let mut all: Vec<&str> = args.to_vec();
        all.extend_from_slice(&[
            "--dir",
            Self::path(&p.dir),
            "--keystore",
            Self::path(&p.keystore),
        ]);
        self.mutual(&all)
    }

    /// Elections, a proxy, a declaration of interest and a key replacement, among the
    /// founders, before time passes.
    pub(super) fn govern(&mut self, founders: usize) -> Result<Votes> {
        self.heading("The partners elect their board and chair");
        let names: Vec<String> = (0..founders)
            .map(|i| self.practices[i].partner.clone())
            .collect();
        let mut localities: Vec<&str> = (0..founders)
            .map(|i| self.practices[i].locality.as_str())
            .collect();
        localities.sort();
        localities.dedup();
        let mut board_args: Vec<&str> = vec!["--per-locality"];
        for n in &names {
            board_args.extend_from_slice(&["--candidate", n]);
        }
        let board = self.propose("elect-board", "Board 2027", &board_args)?;
        self.say(&format!(
            "a board election with one seat per locality ({}), every founding partner a \
             candidate",
            localities.join(", ")
        ));
        let chair_candidates = [&names[0], &names[founders - 1]];
        let chair = self.propose(
            "elect-chair",
            "Chair 2027",
            &[
                "--candidate",
                chair_candidates[0],
                "--candidate",
                chair_candidates[1],
            ],
        )?;
        // The last founder stands for chair and declares it; they are left out of that vote.
        let last = founders - 1;
        self.as_partner(
            last,
            &["vote", &chair, "--declare-interest", "I am a candidate"],
        )?;
        self.say(&format!(
            "{} declares an interest in the chair election and is left out of its vote",
            names[last]
        ));
        // Ranked ballots: each partner puts themself first, then the others in turn.
        for i in 0..founders {
            let order: Vec<&str> = (0..founders)
                .map(|k| names[(i + k) % founders].as_str())
                .collect();
            if i == 1 {
                // Partner 1 cannot attend: they appoint partner 0 to vote for them.
                self.as_partner(1, &["proxy", "appoint", &board, "--to", &names[0]])?;
                self.as_partner(
                    0,
                    &[
                        "vote",
                        &board,
                        "--rank",
                        &order.join(","),
                        "--on-behalf-of",
                        &names[1],
                    ],
                )?;
                self.say(&format!(
                    "{} appoints {} as proxy on the board election, who ranks for them: {}",
                    names[1],
                    names[0],
                    order.join(" > ")
                ));
            } else {
                self.as_partner(i, &["vote", &board, "--rank", &order.join(",")])?;
                self.say(&format!("{} ranks {}", names[i], order.join(" > ")));
            }
            if i != last {
                let first = chair_candidates[i % 2];
                let second = chair_candidates[(i + 1) % 2];
                self.as_partner(i, &["vote", &chair, "--rank", &format!("{first},{second}")])?;
            }
        }

        self.heading(&format!("{} loses a laptop", names[last]));
        let lost = self.practices[last].keystore.clone();
        let new = lost.with_extension("new");
        let key = self
            .mutual(&["keystore", "new", "--out", Self::path(&new), "--json"])
            .and_then(|o| json_field(&o, "key"))?;
        self.say(&format!(
            "{} makes a new key; the others vote it in place of the lost one",
            names[last]
        ));
        let replace = self.propose(
            "replace-key",
            &format!("Replace {}'s lost key", names[last]),
            &["--subject", &names[last], "--replacement-key", &key],
        )?;
        for i in 0..last {
            self.vote(i, &replace, "for")?;
        }
        self.converge()?;
        Ok(Votes {
            board,
            chair,
            replace,
            lost: (last, new),
        })
    }

    /// After time passed: the count, round by round; the board and chair; the lost key
    /// refused and the new one in force.
    pub(super) fn governed(&mut self, v: &Votes) -> Result<(Vec<String>, Option<String>)> {
        self.heading("The count");
        let closed = |d: &Demo, id: &str| d.motion_on(0, id).is_ok_and(|m| m.closed);
        self.wait("the elections and the key replacement to close", || {
            Ok([&v.board, &v.chair, &v.replace]
                .iter()
                .all(|id| closed(self, id)))
        })?;
        for id in [&v.board, &v.chair] {
            let shown = self.mutual(&[
                "motion",
                "show",
                "--dir",
                Self::path(&self.practices[0].dir),
                id,
            ])?;
            for l in shown.lines().filter(|l| {
                l.starts_with("title")
                    || l.starts_with("count")
                    || l.starts_with("elected")
                    || l.starts_with("recused")
            }) {
                self.say(l);
            }
        }
        let members: Vec<MemberView> = self.practices[0].client()?.get("/members")?;
        let office = |o: &str| -> Vec<String> {
            members
                .iter()
                .flat_map(|p| p.partners.iter().map(move |x| (p, x)))
                .filter(|(_, x)| x.offices.iter().any(|h| h == o))
                .map(|(p, x)| format!("{} ({})", x.name, p.locality))
                .collect()
        };
        let (board, chair) = (office("board"), office("chair").pop());
        self.say(&format!(
            "the board: {}; the chair: {}",
            board.join(", "),
            chair.as_deref().unwrap_or("none")
        ));
        // From now on the partner's keystore is the new one; the lost one is kept aside.
        let (who, new) = &v.lost;
        let keystore = self.practices[*who].keystore.clone();
        let aside = keystore.with_extension("lost");
        std::fs::rename(&keystore, &aside)?;
        let _ = std::fs::rename(
            crate::keystore::record_path(&keystore),
            crate::keystore::record_path(&aside),
        );
        std::fs::rename(new, &keystore)?;
        let refused = self
            .mutual(&[
                "motion",
                "propose",
                "--dir",
                Self::path(&self.practices[*who].dir),
                "--keystore",
                Self::path(&aside),
                "--kind",
                "general",
                "--title",
                "Signed with the lost key",
            ])
            .is_err();
        ensure!(refused, "the lost key still signs");
        self.say(&format!(
            "{}'s lost key no longer signs anything (what it signed before stays valid); \
             the new one does",
            self.practices[*who].partner
        ));
        Ok((board, chair))
    }

    /// The admitted practice's first partner signs the agreement, then may vote.
    pub(super) fn accede(&mut self, new: usize) -> Result<bool> {
        let agreement = self.plan.dir.join("agreement.txt");
        self.say(&format!(
            "{}, its first partner, was admitted with it but holds no vote until she signs \
             the partnership's agreement ({})",
            self.practices[new].partner,
            agreement.display()
        ));
        self.as_partner(
            new,
            &[
                "partner",
                "accede",
                "--agreement",
                Self::path(&agreement),
                "--yes",
            ],
        )?;
        let name = self.practices[new].partner.clone();
        let active = |d: &Demo| -> Result<bool> {
            let m: Vec<MemberView> = d.practices[0].client()?.get("/members")?;
            Ok(m.iter()
                .flat_map(|p| &p.partners)
                .any(|x| x.name == name && x.status == "active"))
        };
        self.wait("the accession to reach every node", || active(self))?;
        self.say(&format!(
            "{name} signed the agreement and is a partner with a vote"
        ));
        Ok(true)
    }
}
