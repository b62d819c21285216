// SPDX-License-Identifier: MIT
// kernelmagic-highlight: JupyterLab shows %%kmodule, %%kfile and %%userprog cells as C.
//
// A notebook's code cells all use the kernel's language ("ipython"), so the C of a
// %%kmodule cell would be coloured as Python. This plugin gives the registered ipython
// language a Lezer mixed parser: when a cell starts with %%kmodule, %%kfile or %%userprog
// (a user-space program), the lines after the magic's own line are parsed (and
// highlighted, folded, commented with //) as C, as an overlay on the Python tree.
// Every other cell is plain ipython.
import { LanguageSupport } from '@codemirror/language';
import { cppLanguage } from '@codemirror/lang-cpp';
import { pythonLanguage } from '@codemirror/lang-python';
import { IEditorLanguageRegistry, pythonBuiltin } from '@jupyterlab/codemirror';
import { parseMixed } from '@lezer/common';

/** The cell magics whose body is C; the match ends after the magic's own line. */
export const C_MAGIC = /^\s*%%(kmodule|kfile|userprog)\b[^\n]*\n/;

/** The range of a cell that is C, or null when the cell is not a C magic cell. */
export function cRange(text) {
  const match = C_MAGIC.exec(text);
  if (!match || match[0].length >= text.length) {
    return null;
  }
  return { from: match[0].length, to: text.length };
}

export function kernelmagicIPython() {
  const language = pythonLanguage.configure(
    {
      wrap: parseMixed((node, input) => {
        if (!node.type.isTop) {
          return null;
        }
        const range = cRange(input.read(0, Math.min(input.length, 2000)) + (input.length > 2000 ? 'x' : ''));
        if (!range) {
          return null;
        }
        return { parser: cppLanguage.parser, overlay: [{ from: range.from, to: input.length }] };
      })
    },
    'ipython'
  );
  return new LanguageSupport(language, [pythonBuiltin(language)]);
}

const plugin = {
  id: 'kernelmagic-highlight:plugin',
  description: 'Highlights %%kmodule, %%kfile and %%userprog cells as C.',
  autoStart: true,
  requires: [IEditorLanguageRegistry],
  activate: (app, languages) => {
    const spec = languages.findByName('ipython');
    if (spec) {
      // getLanguage() loads a language only when `support` is unset: setting it first
      // makes every ipython editor use ours.
      spec.support = kernelmagicIPython();
    } else {
      console.warn('kernelmagic-highlight: no ipython language registered');
    }
  }
};

export default plugin;
